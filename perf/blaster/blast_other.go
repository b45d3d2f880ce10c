//go:build !linux

package main

import "errors"

func blast(*config, int) (*Result, error) {
	return nil, errors.New("sendmmsg/recvmmsg: Linux only")
}
