package distributed

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A watch holds one TCP connection to every other rank of a group. No data
// flows on it but a goodbye byte when a rank closes its group, so a
// connection that ends without one means the peer's process ended (the
// kernel closes the sockets of a process that dies, even by SIGKILL).
type watch struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	gone  []peerGone // in the order noticed
	first chan struct{}
	done  bool
}

// peerGone records a rank that left: lost (no goodbye) or closed its group.
type peerGone struct {
	rank   int
	closed bool
}

const (
	watchHello   = "gotrain-watch"
	watchGoodbye = 'B'
)

func watchKey(rank int) string { return "gotrain/watch/" + strconv.Itoa(rank) }

// newWatch joins the watch of a group through store: every rank publishes
// the address of its listener on host, waits up to timeout for all the
// others (naming those that never came), dials the lower ranks and accepts
// the higher ones.
func newWatch(store *Store, rank, size int, host string, timeout time.Duration) (*watch, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("torch/distributed: rank %d: listen on %s for the group's watch: %w", rank, host, err)
	}
	w := &watch{ln: ln, first: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	if err := store.Set(watchKey(rank), []byte(ln.Addr().String())); err != nil {
		return nil, err
	}
	keys := make([]string, size)
	for r := range keys {
		keys[r] = watchKey(r)
	}
	if err := store.Wait(keys, timeout); err != nil {
		var missing []int
		for r, k := range keys {
			if there, cerr := store.Check(k); cerr == nil && !there {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return nil, fmt.Errorf("torch/distributed: rank %d of %d: waiting for the other ranks at %s: %w", rank, size, store, err)
		}
		return nil, &JoinError{Rank: rank, Size: size, Missing: missing, Store: store.String(), Timeout: timeout, Err: err}
	}
	deadline := time.Now().Add(timeout)
	for r := 0; r < rank; r++ {
		addr, err := store.Get(watchKey(r))
		if err != nil {
			return nil, err
		}
		c, err := net.DialTimeout("tcp", string(addr), time.Until(deadline))
		if err != nil {
			return nil, fmt.Errorf("torch/distributed: rank %d: cannot reach rank %d at %s: %w", rank, r, addr, err)
		}
		w.conns = append(w.conns, c)
		if _, err := fmt.Fprintf(c, "%s %d\n", watchHello, rank); err != nil {
			return nil, fmt.Errorf("torch/distributed: rank %d: greeting rank %d at %s: %w", rank, r, addr, err)
		}
		go w.follow(r, c, nil)
	}
	tl := ln.(*net.TCPListener)
	for n := rank + 1; n < size; n++ {
		tl.SetDeadline(deadline)
		c, err := tl.Accept()
		if err != nil {
			return nil, fmt.Errorf("torch/distributed: rank %d: waiting for ranks above it to connect: %w", rank, err)
		}
		w.conns = append(w.conns, c)
		c.SetReadDeadline(deadline)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		var peer int
		if err == nil {
			_, err = fmt.Sscanf(line, watchHello+" %d\n", &peer)
		}
		if err != nil || peer <= rank || peer >= size {
			return nil, fmt.Errorf("torch/distributed: rank %d: bad greeting %q on the group's watch (from %s): %v", rank, line, c.RemoteAddr(), err)
		}
		c.SetReadDeadline(time.Time{})
		go w.follow(peer, c, br)
	}
	ok = true
	return w, nil
}

// JoinError reports a group that did not form: some ranks never came.
type JoinError struct {
	Rank, Size int
	Missing    []int  // the ranks that never joined
	Store      string // where they were awaited
	Timeout    time.Duration
	Err        error // the store's error
}

func (e *JoinError) Error() string {
	s := make([]string, len(e.Missing))
	for i, r := range e.Missing {
		s[i] = strconv.Itoa(r)
	}
	who := "rank " + strings.Join(s, ", ")
	if len(s) > 1 {
		who = "ranks " + strings.Join(s, ", ")
	}
	return fmt.Sprintf("torch/distributed: rank %d of %d: %s never joined the group at %s within %v",
		e.Rank, e.Size, who, e.Store, e.Timeout)
}

func (e *JoinError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTimeout) hold: the ranks were awaited until the timeout.
func (e *JoinError) Is(target error) bool { return target == ErrTimeout }

// follow waits for the end of the connection to rank and records how it ended.
func (w *watch) follow(rank int, c net.Conn, r io.Reader) {
	if r == nil {
		r = c
	}
	var b [1]byte
	_, err := r.Read(b[:])
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.gone = append(w.gone, peerGone{rank: rank, closed: err == nil && b[0] == watchGoodbye})
	if len(w.gone) == 1 {
		close(w.first)
	}
}

// wait returns the ranks gone so far, waiting up to d for a first one.
func (w *watch) wait(d time.Duration) []peerGone {
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-w.first:
		case <-t.C:
		}
		t.Stop()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]peerGone(nil), w.gone...)
}

// close says goodbye to every peer and closes the connections.
func (w *watch) close() {
	w.mu.Lock()
	w.done = true
	conns := w.conns
	w.conns = nil
	w.mu.Unlock()
	for _, c := range conns {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte{watchGoodbye})
		c.Close()
	}
	w.ln.Close()
}
