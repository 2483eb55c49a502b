package dataset

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkTreeSets checks sets loaded from imageTree(..., n): per split, classes
// in official order, files in name order.
func checkTreeSets(t *testing.T, train, test *Set, n int) {
	t.Helper()
	for s, set := range []*Set{train, test} {
		if set.Len() != len(Classes)*n {
			t.Fatalf("%s: %d images, want %d", splitNames[s], set.Len(), len(Classes)*n)
		}
		for c := range Classes {
			for i := range n {
				j := c*n + i
				if set.Labels[j] != uint8(c) {
					t.Fatalf("%s image %d: label %d, want %d", splitNames[s], j, set.Labels[j], c)
				}
				if !bytes.Equal(set.Image(j), hwc(treeImage(s, c, i, n))) {
					t.Fatalf("%s image %d: pixels are not those of %s/%s/img_%03d.png", splitNames[s], j, splitNames[s], Classes[c], i)
				}
			}
		}
	}
}

// junk are files a real tree may carry that the reader must skip.
var junk = []file{
	{"README.txt", []byte("about")},
	{".DS_Store", []byte{0}},
	{"__MACOSX/train/cat/._img_000.png", []byte{0}},
}

func TestLoadImageTree(t *testing.T) {
	const n = 3
	t.Run("folder", func(t *testing.T) {
		dir := t.TempDir()
		files := append(imageTree("", n), junk...)
		files = append(files, file{"train/cat/.hidden.png", []byte("not an image")})
		writeTree(t, dir, files)
		train, test, err := Load(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		checkTreeSets(t, train, test, n)
	})
	t.Run("folder with top folder", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, append(imageTree("cifar10-png/", n), junk...))
		train, test, err := Load(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		checkTreeSets(t, train, test, n)
	})
	for _, tc := range []struct {
		name, prefix string
		gz           bool
	}{{"tar", "", false}, {"tar.gz with top folder", "cifar10-png/", true}, {"tar.gz", "", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "c.tgz", tarBytes(t, append(imageTree(tc.prefix, n), junk...), tc.gz))
			train, test, err := Load(p, "")
			if err != nil {
				t.Fatal(err)
			}
			checkTreeSets(t, train, test, n)
		})
	}
}

func TestLoadImageTreeIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, imageTree("", 4))
	train1, test1, err := Load(dir, "", WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	train2, test2, err := Load(dir, "", WithWorkers(7))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(train1.Images, train2.Images) || !bytes.Equal(test1.Images, test2.Images) ||
		!bytes.Equal(train1.Labels, train2.Labels) || !bytes.Equal(test1.Labels, test2.Labels) {
		t.Fatal("1 and 7 decoding goroutines give different sets")
	}
}

func TestLoadImageTreeErrors(t *testing.T) {
	tree := imageTree("", 1)
	with := func(extra ...file) []file { return append(append([]file{}, tree...), extra...) }
	png31 := pngImage(0, 31, 32)
	for _, tc := range []struct {
		name  string
		files []file
		bad   string // the file the error must name, slash-separated
		want  string
	}{
		{"unknown class", with(file{"train/dragon/a.png", tree[0].data}), "train/dragon/a.png", `unknown class folder "dragon"`},
		{"undecodable jpeg", with(file{"test/cat/bad.jpg", []byte("\xff\xd8\xff\xe0 broken")}), "test/cat/bad.jpg", "cannot decode image"},
		{"not an image", with(file{"test/cat/text.png", []byte("hello")}), "test/cat/text.png", "not a PNG or JPEG image"},
		{"wrong size", with(file{"train/ship/small.png", png31}), "train/ship/small.png", "image is 31x32, want 32x32"},
		{"huge size in header", with(file{"train/ship/huge.png", hugePNG()}), "train/ship/huge.png", "image is 20000x20000, want 32x32"},
		{"unsupported type", with(file{"train/ship/a.gif", []byte("GIF89a")}), "train/ship/a.gif", `unsupported file type ".gif"`},
		{"file outside class folder", with(file{"train/a.png", tree[0].data}), "train/a.png", "unexpected file"},
	} {
		t.Run(tc.name+"/folder", func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, _, err := Load(dir, "")
			mustErr(t, err, filepath.Join(dir, filepath.FromSlash(tc.bad)), tc.want)
		})
		t.Run(tc.name+"/archive", func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "c.tar.gz", tarBytes(t, tc.files, true))
			_, _, err := Load(p, "")
			mustErr(t, err, p+": "+tc.bad, tc.want)
		})
	}

	layoutErrors := []struct {
		name  string
		files []file
		want  []string
	}{
		{"nested folder", with(file{"train/cat/more/a.png", tree[0].data}), []string{filepath.FromSlash("train/cat/more"), "unexpected folder"}},
		{"no test split", imageTree("", 1)[:len(Classes)], []string{"no test images"}},
		{"two layouts", with(binaryRelease("cifar-10-batches-bin/", 1)...), []string{"both the binary release", "class-folder images"}},
		{"two top folders", append(imageTree("a/", 1), imageTree("b/", 1)...), []string{`two folders, "a" and "b"`}},
	}
	for _, tc := range layoutErrors {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, _, err := Load(dir, "")
			mustErr(t, err, append(tc.want, dir)...)
		})
	}
}

func TestLocateArchives(t *testing.T) {
	treeTar := tarBytes(t, imageTree("x/", 1), true)
	binTar := tarBytes(t, binaryRelease("cifar-10-batches-bin/", 10), true)

	t.Run("official archive wins", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "other.tar.gz", treeTar)
		writeFile(t, dir, OfficialArchive, binTar)
		train, _, err := Load(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 50 {
			t.Fatalf("read %d training images, want the 50 of %s", train.Len(), OfficialArchive)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.tar.gz", treeTar)
		writeFile(t, dir, "b.tar", treeTar)
		_, _, err := Load(dir, "")
		mustErr(t, err, dir, "several archives", "a.tar.gz", "b.tar")
	})
	t.Run("extracted files win over archives", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, OfficialArchive, []byte("broken"))
		writeTree(t, dir, imageTree("", 1))
		if _, _, err := Load(dir, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "notes.txt", []byte("nothing here"))
		_, _, err := Load(dir, "")
		mustErr(t, err, dir, "cifar-10-batches-bin")
		if !errors.Is(err, ErrNoData) {
			t.Fatalf("error %v does not wrap ErrNoData", err)
		}
	})
}

func TestArchiveLinkIsAnError(t *testing.T) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, f := range imageTree("", 1) {
		w.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data))})
		w.Write(f.data)
	}
	w.WriteHeader(&tar.Header{Name: "train/cat/link.png", Typeflag: tar.TypeLink, Linkname: "train/cat/img_000.png"})
	w.Close()
	p := writeFile(t, t.TempDir(), "c.tar", buf.Bytes())
	_, _, err := Load(p, "")
	mustErr(t, err, p+": train/cat/link.png", "not a regular file")
}

func TestLoadImageTreeThroughSymlinks(t *testing.T) {
	real, linked := t.TempDir(), t.TempDir()
	files := imageTree("", 2)
	writeTree(t, real, files)
	for _, f := range files {
		p := filepath.Join(linked, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(real, filepath.FromSlash(f.name)), p); err != nil {
			t.Fatal(err)
		}
	}
	// A dangling link that is not part of the data is no concern.
	if err := os.Symlink(filepath.Join(real, "nowhere"), filepath.Join(linked, "old-link")); err != nil {
		t.Fatal(err)
	}
	train, test, err := Load(linked, "")
	if err != nil {
		t.Fatal(err)
	}
	checkTreeSets(t, train, test, 2)
}

// TestSymlinkedFolderIsNamed checks that a class folder (or a train/
// folder) that is a symbolic link to a folder, which the scan does not
// follow, fails with an error naming the link and its target.
func TestSymlinkedFolderIsNamed(t *testing.T) {
	for _, moved := range []string{"train/cat", "train"} {
		t.Run(moved, func(t *testing.T) {
			dir, elsewhere := t.TempDir(), t.TempDir()
			writeTree(t, dir, imageTree("", 1))
			link := filepath.Join(dir, filepath.FromSlash(moved))
			target := filepath.Join(elsewhere, "moved")
			if err := os.Rename(link, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(dir, "")
			mustErr(t, err, link, "symbolic link", target)
		})
	}
}

// unreadableDir creates the folder dir/name with mode 000, or skips the test
// where that does not keep the process out (as root).
func unreadableDir(t *testing.T, dir, name string) string {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("running as root, which reads folders of mode 000")
	}
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(p, 0o755) }) // before t.TempDir's removal
	return p
}

// TestLoadIgnoresUnrelatedTrouble checks that what cannot be read beside the
// data does not stop Load or Ensure, while what is part of the data does.
func TestLoadIgnoresUnrelatedTrouble(t *testing.T) {
	offline := WithDownloadURL("http://127.0.0.1:1/cifar.tar.gz", "")
	loads := func(t *testing.T, dir string) {
		t.Helper()
		if _, _, err := Load(dir, ""); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if err := Ensure(context.Background(), dir, offline); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	t.Run("dangling archive link beside the data", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, binaryRelease("cifar-10-batches-bin/", 10))
		if err := os.Symlink(filepath.Join(dir, "gone.tar.gz"), filepath.Join(dir, "cifar10-jpeg.tar.gz")); err != nil {
			t.Fatal(err)
		}
		loads(t, dir)
	})
	t.Run("dangling archive link chosen", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, OfficialArchive)
		if err := os.Symlink(filepath.Join(dir, "gone.tar.gz"), link); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(dir, "")
		mustErr(t, err, link)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
		}
	})
	t.Run("unreadable folder beside the data", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, imageTree("", 1))
		unreadableDir(t, dir, "lost+found")
		loads(t, dir)
	})
	t.Run("unreadable folder beside an archive", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, OfficialArchive, tarBytes(t, binaryRelease("cifar-10-batches-bin/", 10), true))
		unreadableDir(t, dir, "lost+found")
		loads(t, dir)
	})
	t.Run("unreadable folder and no data", func(t *testing.T) {
		dir := t.TempDir()
		p := unreadableDir(t, dir, "lost+found")
		_, _, err := Load(dir, "")
		mustErr(t, err, dir, p, "permission denied")
		if !errors.Is(err, ErrNoData) {
			t.Fatalf("error %v does not wrap ErrNoData", err)
		}
	})
	t.Run("unreadable class folder", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, imageTree("", 1))
		if err := os.Rename(filepath.Join(dir, "train", "cat"), filepath.Join(dir, "cat")); err != nil {
			t.Fatal(err)
		}
		p := unreadableDir(t, filepath.Join(dir, "train"), "cat")
		_, _, err := Load(dir, "")
		mustErr(t, err, p, "permission denied")
	})
}

func TestLoadMissingClasses(t *testing.T) {
	var noTruck []file
	for _, f := range imageTree("", 1) {
		if !strings.Contains(f.name, "train/truck/") && !strings.Contains(f.name, "train/ship/") {
			noTruck = append(noTruck, f)
		}
	}
	for _, archive := range []bool{false, true} {
		dir := t.TempDir()
		src := dir
		if archive {
			src = writeFile(t, dir, "c.tar", tarBytes(t, noTruck, false))
		} else {
			writeTree(t, dir, noTruck)
		}
		_, _, err := Load(src, "")
		if !errors.Is(err, ErrMissingClasses) {
			t.Fatalf("archive %v: err = %v, want ErrMissingClasses", archive, err)
		}
		mustErr(t, err, src, "no train images of ship, truck")
	}
	// The binary release: the test batch's labels lack classes 3-9.
	dir := t.TempDir()
	files := binaryRelease("cifar-10-batches-bin/", 10)
	files[5].data = files[5].data[:3*RecordSize]
	writeTree(t, dir, files)
	_, _, err := Load(dir, "")
	mustErr(t, err, "no test images of cat, deer, dog, frog, horse, ship, truck")
}

func TestLoadWarnsOnSplitSizes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, imageTree("", 1))
	var log strings.Builder
	logf := LoggerFunc(func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) })
	cache := t.TempDir()
	for range 2 { // decoded, then from the cache
		if _, _, err := Load(dir, cache, WithLogger(logf)); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "warning: "+dir+" holds 10 training and 10 test images; CIFAR-10 has 50000 and 10000"); n != 2 {
		t.Fatalf("size warning %d times, want 2; log:\n%s", n, log.String())
	}
}
