package probes

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/claude-ops/claude-ops/repos"
)

// Bounds of ReposHash: a file counts by its first MiB; past 64 MiB read in
// all, files count by size and modification time; past 10,000 files, no more.
const (
	maxHashFileBytes  = 1 << 20
	maxHashTotalBytes = 64 << 20
	maxHashFiles      = 10000
)

// ReposHash is the content hash a plan is versioned with: SHA-256 over each
// repo of dir (non-hidden folders, lexical order, as repos.Load reads them)
// of its name, its CLAUDE-OPS.md and every regular file under .claude-ops/
// (paths and contents; a file over 1 MiB counts by its first MiB and its
// size; see the bounds above). Symbolic links to files are followed, to
// folders not (as filepath.WalkDir). A missing repos dir hashes like an
// empty one.
func ReposHash(dir string) (string, error) {
	h := &hasher{Hash: sha256.New()}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read repos dir: %w", err)
	}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		root, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		field(h, "repo", name)
		h.file(filepath.Join(root, repos.ManifestFile), repos.ManifestFile)
		ext, err := filepath.EvalSymlinks(filepath.Join(root, repos.ExtDir))
		if err != nil {
			continue
		}
		err = filepath.WalkDir(ext, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil // an unreadable folder counts as absent
			}
			if files++; files > maxHashFiles {
				return fs.SkipAll
			}
			rel, _ := filepath.Rel(ext, path)
			h.file(path, repos.ExtDir+"/"+filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// field writes a length-prefixed field, so that no two file sets collide.
func field(w io.Writer, kind, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	// A hash.Hash never returns an error.
	_, _ = io.WriteString(w, kind)
	_, _ = w.Write(n[:])
	_, _ = io.WriteString(w, s)
}

// hasher is the hash and what it has read.
type hasher struct {
	hash.Hash
	read int64
}

func (h *hasher) file(path, rel string) {
	f, err := os.Open(path)
	if err != nil {
		return // absent or unreadable: not part of the hash
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	field(h, "file", rel)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(fi.Size()))
	h.Write(n[:])
	if h.read >= maxHashTotalBytes {
		binary.BigEndian.PutUint64(n[:], uint64(fi.ModTime().UnixNano()))
		h.Write(n[:])
		return
	}
	c, _ := io.Copy(h, io.LimitReader(f, maxHashFileBytes))
	h.read += c
}
