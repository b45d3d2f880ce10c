// Package agones connects treasured to Agones, the Kubernetes game-server
// orchestrator, through the REST API of its SDK sidecar
// (http://localhost:$AGONES_SDK_HTTP_PORT, documented at
// https://agones.dev/site/docs/guides/client-sdks/rest/). The Agones Go SDK
// module is a gRPC client with a large dependency tree; the four calls a
// dedicated game server needs are plain JSON over HTTP:
//
//	POST /ready           {}                        once the game port listens
//	POST /health          {}                        every few seconds while healthy
//	PUT  /metadata/label  {"key": k, "value": v}    labels allocation can select on
//	POST /shutdown        {}                        when the server cannot go on
//
// Agones marks a game server Unhealthy, and replaces its pod, when health
// pings stop for longer than the fleet's health settings allow
// (deploy/agones/fleet.yaml). So the Agent pings only while the server says
// it is healthy — its tick advancing on time — and a stalled tick clock
// stops the pings instead of hiding behind a timer that keeps firing.
package agones

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// EnvPort is the variable Agones sets in the game server container to the
// sidecar's HTTP port.
const EnvPort = "AGONES_SDK_HTTP_PORT"

// Resolve turns the --agones setting into the sidecar's base URL, or "" when
// Agones is off. "auto" means on when EnvPort is set, "off" means off, and
// anything else is the base URL itself (a sidecar started by hand with
// `sdk-server --local`, or a test).
func Resolve(setting string, getenv func(string) string) (string, error) {
	switch setting {
	case "off":
		return "", nil
	case "", "auto":
		p := getenv(EnvPort)
		if p == "" {
			return "", nil
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%s=%q: want a TCP port number", EnvPort, p)
		}
		return "http://localhost:" + p, nil
	}
	u, err := url.Parse(setting)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--agones %q: want auto, off or the sidecar's base URL (http://localhost:9358)", setting)
	}
	return setting, nil
}

// Client calls the SDK sidecar. Safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// requestTimeout bounds one call: the sidecar is on localhost, so anything
// slower is a sidecar that is not up (yet), and the caller retries.
const requestTimeout = 2 * time.Second

// NewClient returns a Client for the sidecar at base (see Resolve). hc nil
// means a client with a short timeout.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	return &Client{base: base, hc: hc}
}

// Ready tells Agones the game server accepts players.
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/ready", struct{}{})
}

// Health is one health ping.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/health", struct{}{})
}

// Shutdown asks Agones to shut the game server down.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/shutdown", struct{}{})
}

// SetLabel sets a label on the GameServer; Agones stores it with the prefix
// "agones.dev/sdk-". Keys and values must be valid Kubernetes label parts
// (see ValidLabelValue).
func (c *Client) SetLabel(ctx context.Context, key, value string) error {
	return c.call(ctx, http.MethodPut, "/metadata/label", keyValue{Key: key, Value: value})
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (c *Client) call(ctx context.Context, method, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("agones %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("agones %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("agones %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection is reused; the answer is "{}".
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agones %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// ValidLabelValue reports whether v is a valid Kubernetes label value: at
// most 63 characters, alphanumerics, '-', '_' and '.', starting and ending
// with an alphanumeric (empty is valid too).
func ValidLabelValue(v string) bool {
	if len(v) > 63 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((c != '-' && c != '_' && c != '.') || i == 0 || i == len(v)-1) {
			return false
		}
	}
	return true
}

// ErrStopped is returned by Agent.Run when its context ends.
var ErrStopped = errors.New("agones: agent stopped")
