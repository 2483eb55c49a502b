package distributed

/*
#include <stdlib.h>
#include "ctorch_dist.h"
*/
import "C"

import (
	"fmt"
	"net"
	"strconv"
	"time"
	"unsafe"
)

// Store is a c10d key-value store that the ranks of a run share to find
// each other: a TCPStore or a PrefixStore over one. Its methods but Close
// may be called from several goroutines at once.
type Store struct {
	h       C.ct_store
	desc    string // "TCPStore 127.0.0.1:29500", "PrefixStore "x" over ..."
	timeout time.Duration
}

// NewTCPStore returns c10d's TCPStore at host:port, like Python's
// TCPStore(host, port, is_master=isServer, timeout=timeout): the server
// listens there (port 0 picks a free port, see Port), a client connects to
// it, retrying for up to timeout. timeout is also how long Get and Wait
// wait for a key. The server keeps serving until every Store made from it
// (prefix stores, process groups) is closed.
func NewTCPStore(host string, port int, isServer bool, timeout time.Duration) (*Store, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	role := "client of"
	if isServer {
		role = "server at"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	op := fmt.Sprintf("TCPStore %s %s (timeout %v)", role, addr, timeout)
	ch := C.CString(host)
	defer C.free(unsafe.Pointer(ch))
	var h C.ct_store
	srv := C.int(0)
	if isServer {
		srv = 1
	}
	if err := cError(op, C.ct_tcpstore_new(ch, C.int(port), srv, ms(timeout), &h)); err != nil {
		return nil, err
	}
	s := &Store{h: h, timeout: timeout}
	s.desc = "TCPStore " + net.JoinHostPort(host, strconv.Itoa(s.Port()))
	return s, nil
}

// NewPrefixStore returns c10d's PrefixStore over base: its keys are
// base's keys prefix/key. base may be closed afterwards; the new store
// keeps what it needs.
func NewPrefixStore(prefix string, base *Store) (*Store, error) {
	if base.h == nil {
		return nil, ErrClosed
	}
	cp := C.CString(prefix)
	defer C.free(unsafe.Pointer(cp))
	var h C.ct_store
	desc := fmt.Sprintf("PrefixStore %q over %s", prefix, base.desc)
	if err := cError(desc, C.ct_prefixstore_new(cp, base.h, &h)); err != nil {
		return nil, err
	}
	return &Store{h: h, desc: desc, timeout: base.timeout}, nil
}

// String describes the store, e.g. `PrefixStore "x" over TCPStore 127.0.0.1:29500`.
func (s *Store) String() string { return s.desc }

// Timeout returns how long Get waits for a key.
func (s *Store) Timeout() time.Duration { return s.timeout }

// Port returns the TCP port of the TCPStore (under prefix stores).
func (s *Store) Port() int {
	if s.h == nil {
		return 0
	}
	var p C.int
	C.ct_store_port(s.h, &p)
	return int(p)
}

// Close releases the store. It is safe to call more than once.
func (s *Store) Close() error {
	if s.h != nil {
		C.ct_store_free(s.h)
		s.h = nil
	}
	return nil
}

func (s *Store) op(what string, key string) string {
	return fmt.Sprintf("%s: %s %q", s.desc, what, key)
}

// Set stores value under key.
func (s *Store) Set(key string, value []byte) error {
	if s.h == nil {
		return ErrClosed
	}
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var p unsafe.Pointer
	if len(value) > 0 {
		p = C.CBytes(value)
		defer C.free(p)
	}
	return cError(s.op("set", key), C.ct_store_set(s.h, ck, p, C.size_t(len(value))))
}

// Get returns the value of key, waiting up to the store's timeout for it.
func (s *Store) Get(key string) ([]byte, error) {
	if s.h == nil {
		return nil, ErrClosed
	}
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var p unsafe.Pointer
	var n C.size_t
	if err := cError(s.op("get", key), C.ct_store_get(s.h, ck, &p, &n)); err != nil {
		return nil, err
	}
	defer C.free(p)
	return C.GoBytes(p, C.int(n)), nil
}

// Add adds delta to the integer under key (0 when missing) and returns the sum.
func (s *Store) Add(key string, delta int64) (int64, error) {
	if s.h == nil {
		return 0, ErrClosed
	}
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var out C.int64_t
	err := cError(s.op("add", key), C.ct_store_add(s.h, ck, C.int64_t(delta), &out))
	return int64(out), err
}

// cKeys returns keys as a C array; free releases it.
func cKeys(keys []string) (arr []*C.char, free func()) {
	arr = make([]*C.char, len(keys))
	for i, k := range keys {
		arr[i] = C.CString(k)
	}
	return arr, func() {
		for _, p := range arr {
			C.free(unsafe.Pointer(p))
		}
	}
}

// Check reports whether every key is present, without waiting.
func (s *Store) Check(keys ...string) (bool, error) {
	if s.h == nil {
		return false, ErrClosed
	}
	if len(keys) == 0 {
		return true, nil
	}
	arr, free := cKeys(keys)
	defer free()
	var out C.int
	err := cError(s.op("check", fmt.Sprint(keys)), C.ct_store_check(s.h, &arr[0], C.int(len(keys)), &out))
	return out != 0, err
}

// Wait waits up to timeout until every key is present; the error then
// matches ErrTimeout.
func (s *Store) Wait(keys []string, timeout time.Duration) error {
	if s.h == nil {
		return ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	arr, free := cKeys(keys)
	defer free()
	return cError(s.op(fmt.Sprintf("wait (timeout %v) for", timeout), fmt.Sprint(keys)),
		C.ct_store_wait(s.h, &arr[0], C.int(len(keys)), ms(timeout)))
}
