//go:build !linux

package sockfilter

// Filter is unavailable off Linux: New always fails, and a server runs
// without it.
type Filter struct{}

// New returns ErrUnsupported.
func New(p Params) (*Filter, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

// Attach is never reached: New fails.
func (f *Filter) Attach(int) error { return ErrUnsupported }

// SetSession is never reached: New fails.
func (f *Filter) SetSession(int32, uint64) error { return ErrUnsupported }

// Counts is never reached: New fails.
func (f *Filter) Counts(*[NumReasons]uint64) error { return ErrUnsupported }

// Close is never reached: New fails.
func (f *Filter) Close() error { return nil }
