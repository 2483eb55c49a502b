package torch

/*
#include "ctorch.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threadID identifies the calling OS thread (a C thread-local counter: one
// cgo call, where gettid would be a system call).
func threadID() int64 { return int64(C.ct_thread_id()) }

// Scope owns the tensors made on its goroutine while it is open and frees
// them all when it closes. Scopes nest; a tensor belongs to the innermost
// open scope of the goroutine that made it.
//
// NewScope locks the calling goroutine to its OS thread until Close, so
// that the scope (and libtorch's thread-local grad mode) follow the goroutine.
// A scope must be closed by the goroutine that opened it.
type Scope struct {
	tid     int64
	parent  *Scope
	tensors []*Tensor
	closed  bool
}

var scopes struct {
	mu    sync.Mutex
	open  atomic.Int64     // number of open scopes, to skip the lookup when zero
	inner map[int64]*Scope // innermost open scope per OS thread
}

// NewScope opens a scope on the calling goroutine.
func NewScope() *Scope {
	runtime.LockOSThread()
	s := &Scope{tid: threadID()}
	scopes.mu.Lock()
	if scopes.inner == nil {
		scopes.inner = make(map[int64]*Scope)
	}
	s.parent = scopes.inner[s.tid]
	scopes.inner[s.tid] = s
	scopes.mu.Unlock()
	scopes.open.Add(1)
	return s
}

// Close frees every tensor the scope still owns and closes it. Closing a
// closed scope does nothing. Close panics if s is not the innermost open
// scope of the calling goroutine, a bug in the caller.
func (s *Scope) Close() {
	if s.closed {
		return
	}
	scopes.mu.Lock()
	if scopes.inner[s.tid] != s || threadID() != s.tid {
		scopes.mu.Unlock()
		panic("torch: Scope.Close called out of order or from another goroutine")
	}
	if s.parent != nil {
		scopes.inner[s.tid] = s.parent
	} else {
		delete(scopes.inner, s.tid)
	}
	scopes.mu.Unlock()
	scopes.open.Add(-1)
	for _, t := range s.tensors {
		if t.scope == s {
			t.scope = nil
			t.free()
		}
	}
	s.tensors = nil
	s.closed = true
	runtime.UnlockOSThread()
}

// Len returns the number of tensors the scope owns now.
func (s *Scope) Len() int {
	n := 0
	for _, t := range s.tensors {
		if t.scope == s {
			n++
		}
	}
	return n
}

// currentScope returns the innermost open scope of the calling OS thread.
func currentScope() *Scope {
	if scopes.open.Load() == 0 {
		return nil
	}
	tid := threadID()
	scopes.mu.Lock()
	s := scopes.inner[tid]
	scopes.mu.Unlock()
	return s
}

// WithScope runs f inside a new scope; tensors f makes are freed when it
// returns, except those it moves out with Keep.
func WithScope(f func() error) error {
	s := NewScope()
	defer s.Close()
	return f()
}
