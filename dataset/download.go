package dataset

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"gotrain/internal/atomicfile"
)

// The official binary release of CIFAR-10.
const (
	OfficialURL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	OfficialMD5 = "c32a1d4ab5d03f1284b67883e8d87530"
)

// Download errors that callers may want to tell apart (with errors.Is).
var (
	// ErrOffline marks a download that could not reach the server.
	ErrOffline = errors.New("this machine seems to be offline")
	// ErrChecksum marks a download whose content has the wrong MD5.
	ErrChecksum = errors.New("checksum mismatch")
)

// stallTimeout is how long a download may receive nothing before it is
// abandoned. A variable so that tests can shorten it.
var stallTimeout = 60 * time.Second

// Download fetches the official CIFAR-10 binary release (or the file set by
// WithDownloadURL) into folder dir, creating it if needed, and returns the
// path of the file. The file is written under a temporary name in dir and
// renamed only once complete and its MD5 verified, so a failed or
// interrupted download leaves no file under the final name. Progress goes to
// the logger and, on a terminal, to a progress bar (WithProgress). When the
// server cannot be reached the error wraps ErrOffline and says how to use a
// local copy instead; a wrong checksum wraps ErrChecksum.
func Download(ctx context.Context, dir string, opts ...Option) (string, error) {
	_, err := os.Stat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	p, err := download(ctx, dir, newOptions(opts))
	if err != nil && created {
		os.Remove(dir) // only if still empty; download created it
	}
	return p, err
}

// download does the work of Download.
func download(ctx context.Context, dir string, o *options) (string, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return "", fmt.Errorf("dataset: download URL: %w", err)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" {
		name = OfficialArchive
	}
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	client := o.client
	if client == nil {
		client = defaultClient()
	}
	o.logf("dataset: downloading %s to %s", o.url, dst)
	start := time.Now()
	var n int64
	var fetchErr error
	err = atomicfile.Write(dst, func(w io.Writer) error {
		n, fetchErr = fetch(ctx, client, o, name, dir, w)
		return fetchErr
	})
	if fetchErr != nil {
		return "", fetchErr
	}
	if err != nil {
		return "", fmt.Errorf("dataset: saving %s: %w", dst, err)
	}
	check := "md5 verified"
	if o.md5 == "" {
		check = "md5 not checked"
	}
	o.logf("dataset: downloaded %s (%.1f MB, %s) in %.0fs", dst, float64(n)/(1<<20), check, time.Since(start).Seconds())
	return dst, nil
}

// defaultClient is an HTTP client that honours proxy settings and gives up on
// servers that do not answer, rather than hanging.
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// errStalled is the cause of a download cancelled by its watchdog.
var errStalled = errors.New("no data received for too long")

// fetch GETs o.url into w, checking length and MD5, and returns the number
// of bytes written. name labels the progress bar; dir is where the file was
// meant to go, for the offline advice.
func fetch(parent context.Context, client *http.Client, o *options, name, dir string, w io.Writer) (int64, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return 0, fmt.Errorf("dataset: download: %w", err)
	}
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case parent.Err() != nil:
			return 0, fmt.Errorf("dataset: download %s: %w", o.url, parent.Err())
		case errors.Is(context.Cause(ctx), errStalled):
			return 0, fmt.Errorf("dataset: download %s: no answer within %s; %w: %s", o.url, stallTimeout, ErrOffline, localCopyAdvice(name, dir))
		}
		return 0, unreachable(o.url, name, dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("dataset: download %s: server answered %q; %s", o.url, resp.Status, localCopyAdvice(name, dir))
	}

	bar := newProgressBar(o.progress, name, resp.ContentLength)
	sum := md5.New()
	watchdog.Reset(stallTimeout)
	buf := make([]byte, 256<<10)
	var n int64
	var readErr error
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			watchdog.Reset(stallTimeout)
			if _, err := w.Write(buf[:k]); err != nil {
				bar.Close()
				return n, fmt.Errorf("dataset: saving download: %w", err) // disk full, ...
			}
			sum.Write(buf[:k])
			n += int64(k)
			bar.Update(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	bar.Close() // a bar that cannot be drawn does not fail the download
	total := "an unknown number of"
	if resp.ContentLength >= 0 {
		total = fmt.Sprint(resp.ContentLength)
	}
	switch {
	case parent.Err() != nil:
		return n, fmt.Errorf("dataset: download %s: %w", o.url, parent.Err())
	case errors.Is(context.Cause(ctx), errStalled):
		return n, fmt.Errorf("dataset: download %s: stalled after %d of %s bytes: %w (%s); %s", o.url, n, total, errStalled, stallTimeout, localCopyAdvice(name, dir))
	case readErr != nil:
		return n, fmt.Errorf("dataset: download %s: connection lost after %d of %s bytes: %w; %s", o.url, n, total, readErr, localCopyAdvice(name, dir))
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return n, fmt.Errorf("dataset: download %s: got %d of %s bytes; %s", o.url, n, total, localCopyAdvice(name, dir))
	}
	if o.md5 != "" {
		if got := hex.EncodeToString(sum.Sum(nil)); got != strings.ToLower(o.md5) {
			return n, fmt.Errorf("dataset: download %s: %w: md5 %s, want %s (damaged in transit or not the expected file); nothing was saved", o.url, ErrChecksum, got, o.md5)
		}
	}
	return n, nil
}

// unreachable wraps an error of an HTTP request that got no answer, adding
// ErrOffline when the network itself failed (no route, no DNS, refused).
func unreachable(rawURL, name, dir string, err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // it repeats the URL
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return fmt.Errorf("dataset: cannot download %s: %w; %w: %s", rawURL, err, ErrOffline, localCopyAdvice(name, dir))
	}
	return fmt.Errorf("dataset: cannot download %s: %w; %s", rawURL, err, localCopyAdvice(name, dir))
}

// localCopyAdvice tells how to proceed without the download.
func localCopyAdvice(name, dir string) string {
	return fmt.Sprintf("to work without the download, put a copy of %s in %s, or point --data at a local copy of CIFAR-10 (a folder or a .tar/.tar.gz archive, e.g. --data ../shared/datasets/cifar10-jpeg.tar.gz)",
		name, dir)
}
