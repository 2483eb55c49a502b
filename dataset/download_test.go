package dataset

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gotrain/internal/progress"
	"gotrain/internal/testdir"
)

// archiveServer serves a small synthetic binary release built by the test,
// well or in various broken ways, on the loopback interface.
type archiveServer struct {
	*httptest.Server
	archive []byte
	md5     string
	hits    atomic.Int32
}

func newArchiveServer(t *testing.T) *archiveServer {
	t.Helper()
	s := &archiveServer{archive: tarBytes(t, binaryRelease("cifar-10-batches-bin/", 10), true)}
	sum := md5.Sum(s.archive)
	s.md5 = hex.EncodeToString(sum[:])
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// url returns the archive's URL in the given serving mode.
func (s *archiveServer) url(mode string) string {
	return s.URL + "/" + mode + "/" + OfficialArchive
}

func (s *archiveServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	data := s.archive
	half := len(data) / 2
	switch strings.Split(r.URL.Path, "/")[1] {
	case "ok":
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
	case "short": // announces the whole file, sends half, hangs up
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:half])
	case "abort": // chunked, connection dropped mid-way
		w.Write(data[:half])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case "corrupt": // right length, one byte wrong
		bad := bytes.Clone(data)
		bad[half] ^= 1
		w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
		w.Write(bad)
	case "stall": // sends a little, then nothing until the client gives up
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.NotFound(w, r)
	}
}

func TestEnsureDownloadsWhenMissing(t *testing.T) {
	srv := newArchiveServer(t)
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	log := &logRecorder{}
	opts := []Option{WithDownloadURL(srv.url("ok"), srv.md5), WithLogger(log), WithProgress(&bytes.Buffer{})}
	if err := Ensure(context.Background(), dir, opts...); err != nil {
		t.Fatal(err)
	}
	if got := testdir.Names(t, dir); len(got) != 1 || got[0] != OfficialArchive {
		t.Fatalf("data folder holds %v, want only %s", got, OfficialArchive)
	}
	if data, err := os.ReadFile(filepath.Join(dir, OfficialArchive)); err != nil || !bytes.Equal(data, srv.archive) {
		t.Fatalf("downloaded file differs from the served archive (err %v)", err)
	}
	if !log.has("md5 verified") {
		t.Fatal("download completion not logged")
	}
	train, test, err := Load(dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkBinarySets(t, train, test, 10)

	// Data present (and a cache beside it): no second download.
	if err := Ensure(context.Background(), dir, opts...); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("server hit %d times, want 1", n)
	}
}

func TestDownloadFailuresLeaveNothing(t *testing.T) {
	srv := newArchiveServer(t)
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 500 * time.Millisecond
	for _, tc := range []struct {
		mode string
		want []string
		is   error
	}{
		{"short", []string{"connection lost after", fmt.Sprint(len(srv.archive)), "--data"}, nil},
		{"abort", []string{"connection lost after", "unknown number of bytes"}, nil},
		{"corrupt", []string{"md5", srv.md5, "nothing was saved"}, ErrChecksum},
		{"missing", []string{"404 Not Found"}, nil},
		{"stall", []string{"stalled after 100 of"}, nil},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			dir := t.TempDir()
			err := Ensure(context.Background(), dir, WithDownloadURL(srv.url(tc.mode), srv.md5))
			mustErr(t, err, append(tc.want, srv.url(tc.mode))...)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
			if got := testdir.Names(t, dir); len(got) != 0 {
				t.Fatalf("failed download left %v behind", got)
			}
		})
	}
}

func TestDownloadOffline(t *testing.T) {
	// A port nobody listens on: the connection is refused, as when offline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := filepath.Join(t.TempDir(), "data")
	url := "http://" + addr + "/" + OfficialArchive
	err = Ensure(context.Background(), dir, WithDownloadURL(url, OfficialMD5))
	mustErr(t, err, url, "offline", "--data", dir, "cifar10-jpeg.tar.gz")
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("error %v does not wrap ErrOffline", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed download left the folder it created behind (stat: %v)", err)
	}
}

func TestDownloadCancel(t *testing.T) {
	srv := newArchiveServer(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := Download(ctx, dir, WithDownloadURL(srv.url("stall"), srv.md5))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := testdir.Names(t, dir); len(got) != 0 {
		t.Fatalf("cancelled download left %v behind", got)
	}
}

func TestEnsureKeepsBrokenData(t *testing.T) {
	srv := newArchiveServer(t)
	dir := t.TempDir()
	writeTree(t, dir, binaryRelease("cifar-10-batches-bin/", 1)[:3])
	err := Ensure(context.Background(), dir, WithDownloadURL(srv.url("ok"), srv.md5))
	mustErr(t, err, "data_batch_4.bin is missing")
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("downloaded over incomplete data (%d requests)", n)
	}
}

// TestEnsureLeavesArchiveWithoutData checks what ErrNoData's doc says:
// Ensure does not open archives, so it keeps one without CIFAR-10 inside,
// and Load's error names that archive.
func TestEnsureLeavesArchiveWithoutData(t *testing.T) {
	srv := newArchiveServer(t)
	dir := t.TempDir()
	p := writeFile(t, dir, "notes.tar", tarBytes(t, []file{{"README", []byte("hello")}}, false))
	if err := Ensure(context.Background(), dir, WithDownloadURL(srv.url("ok"), srv.md5)); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("downloaded beside an archive (%d requests)", n)
	}
	_, _, err := Load(dir, "")
	mustErr(t, err, p, "no CIFAR-10 data")
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("error %v does not wrap ErrNoData", err)
	}
}

func TestProgressBar(t *testing.T) {
	if newProgressBar(&bytes.Buffer{}, "x", 10) != nil {
		t.Fatal("progress bar drawn on a non-terminal writer")
	}
	var buf bytes.Buffer
	clock := time.Now()
	cfg := downloadBar("f.tar.gz", 4<<20)
	cfg.Now = func() time.Time { return clock }
	p := progress.New(&buf, cfg)
	clock = clock.Add(time.Second)
	p.Update(1 << 20)
	p.Update(1 << 20) // within 200ms of the last draw: not drawn
	p.Close()
	out := buf.String()
	lines := strings.Split(out, "\r")
	if len(lines) != 3 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("got %q, want two redraws and a final newline", out)
	}
	for i, want := range []string{"f.tar.gz  25% [=======>", "f.tar.gz  50% [===============>"} {
		if !strings.HasPrefix(lines[i+1], want) || !strings.Contains(lines[i+1], "/4.0 MB") {
			t.Fatalf("line %d is %q, want it to start with %q", i+1, lines[i+1], want)
		}
	}
}
