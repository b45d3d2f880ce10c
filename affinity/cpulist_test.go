package affinity

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string // substring; "" means success
	}{
		{in: "2", want: []int{2}},
		{in: "0,2-5", want: []int{0, 2, 3, 4, 5}},
		{in: "0-3,8,10-11\n", want: []int{0, 1, 2, 3, 8, 10, 11}},
		{in: "3-3", want: []int{3}},
		{in: "8,0-1", want: []int{0, 1, 8}},
		{in: " 1, 3 ", want: []int{1, 3}},
		{in: "", want: nil},
		{in: "\n", want: nil},
		{in: "8191", want: []int{8191}},

		{in: "5-3", wantErr: `range "5-3" is reversed`},
		{in: "1,1", wantErr: "CPU 1 is listed more than once"},
		{in: "0-4,3-6", wantErr: "CPU 3 is listed more than once"},
		{in: "1,,2", wantErr: "missing CPU number"},
		{in: "1,", wantErr: "missing CPU number"},
		{in: "-1", wantErr: "missing CPU number"},
		{in: "3-", wantErr: "missing CPU number"},
		{in: "+3", wantErr: `"+3" is not a CPU number`},
		{in: "a", wantErr: `"a" is not a CPU number`},
		{in: "1-2-3", wantErr: `"2-3" is not a CPU number`},
		{in: "0x10", wantErr: `"0x10" is not a CPU number`},
		{in: "8192", wantErr: "CPU 8192 is out of range"},
		{in: "0-4000000000", wantErr: "CPU 4000000000 is out of range"},
		{in: "99999999999999999999999", wantErr: "out of range"},
		{in: "0-7:2", wantErr: "stride syntax is not supported"},
	}
	for _, tt := range tests {
		got, err := ParseCPUList(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCPUList(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatCPUList(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{2}, "2"},
		{[]int{0, 1}, "0-1"},
		{[]int{0, 2, 3, 4, 5}, "0,2-5"},
		{[]int{11, 10, 8, 3, 2, 1, 0}, "0-3,8,10-11"},
		{[]int{4, 4, 5}, "4-5"},
		{[]int{1, 3, 5}, "1,3,5"},
	}
	for _, tt := range tests {
		orig := slices.Clone(tt.in)
		if got := FormatCPUList(tt.in); got != tt.want {
			t.Errorf("FormatCPUList(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if !slices.Equal(tt.in, orig) {
			t.Errorf("FormatCPUList modified its argument: %v -> %v", orig, tt.in)
		}
	}
}

// FuzzParseCPUList checks, for any input ParseCPUList accepts, that the
// result is a sorted set of in-range CPUs and survives a round trip through
// FormatCPUList. Plain `go test` runs the seeds below.
func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3,8,10-11", "5,1-2", "", "3-1", "1,1", "0-8191", " 7 ,9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := ParseCPUList(s)
		if err != nil {
			return
		}
		for i, c := range cpus {
			if c < 0 || c >= MaxCPUs || (i > 0 && c <= cpus[i-1]) {
				t.Fatalf("ParseCPUList(%q) = %v: not a sorted set below MaxCPUs", s, cpus)
			}
		}
		formatted := FormatCPUList(cpus)
		again, err := ParseCPUList(formatted)
		if err != nil || !slices.Equal(again, cpus) {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, cpus, formatted, again, err)
		}
	})
}
