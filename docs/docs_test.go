// Package docs holds the repository's design, protocol and tuning
// documents. Its tests keep the repository self-contained: every file it
// tracks refers only to documents inside it, code comments cite sections
// that exist, and relative Markdown links resolve.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// repoFiles returns the text files of the repository (paths relative to its
// root), skipping version control, build output and generated data.
func repoFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.Name() == ".git" { // a directory, or a worktree's pointer file
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			switch rel {
			case "bin":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(rel) {
		case ".png", ".sum":
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSelfContained: no file names a document outside the repository or a
// path of the machine it was written on. (The forbidden strings are built
// by concatenation so this file does not match itself.)
func TestSelfContained(t *testing.T) {
	forbidden := []string{"DESIGN" + ".md", "STYLE" + ".md", "../" + "shared", "/" + "work/", "/" + "home/", "/" + "root/"}
	for path, text := range repoFiles(t) {
		for n, line := range strings.Split(text, "\n") {
			for _, f := range forbidden {
				if strings.Contains(line, f) {
					t.Errorf("%s:%d names %q, which is not in the repository: %s", path, n+1, f, strings.TrimSpace(line))
				}
			}
		}
	}
}

// headings returns the titles of a Markdown file's headings.
func headings(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hs []string
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "#") {
			hs = append(hs, strings.TrimSpace(strings.TrimLeft(line, "#")))
		}
	}
	return hs
}

// citation is docs/<NAME>.md followed by a quoted section title, possibly wrapped across comment
// lines; commentBreak joins those lines first.
var (
	citation     = regexp.MustCompile(`docs/([A-Z]+\.md)[,:]?\s*"([^"]+)"`)
	commentBreak = regexp.MustCompile(`\n\s*//\s*`)
)

// TestCitedSectionsExist: every citation of a docs/ section in the Go code names
// a heading of that document, so a renamed section breaks here, not in a
// reader's hands.
func TestCitedSectionsExist(t *testing.T) {
	found := 0
	for path, text := range repoFiles(t) {
		if !strings.HasSuffix(path, ".go") {
			continue
		}
		for _, m := range citation.FindAllStringSubmatch(commentBreak.ReplaceAllString(text, " "), -1) {
			found++
			if !slices.Contains(headings(t, m[1]), m[2]) {
				t.Errorf("%s cites docs/%s %q, which has no such heading", path, m[1], m[2])
			}
		}
	}
	if found < 20 {
		t.Errorf("only %d citations found: the pattern no longer matches the comments", found)
	}
}

// slug is GitHub's anchor for a heading: lower case, letters, digits,
// spaces turned into '-', '-' and '_' kept, everything else dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestMarkdownLinks: relative links in the repository's Markdown resolve to
// files, and their #anchors to headings.
func TestMarkdownLinks(t *testing.T) {
	for path, text := range repoFiles(t) {
		if !strings.HasSuffix(path, ".md") {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			full := filepath.Join("..", filepath.Dir(path), file)
			if file == "" {
				full = filepath.Join("..", path)
			}
			if _, err := os.Stat(full); err != nil {
				t.Errorf("%s links to %s, which does not exist", path, target)
				continue
			}
			if anchor == "" {
				continue
			}
			var slugs []string
			for _, h := range headings(t, full) {
				slugs = append(slugs, slug(h))
			}
			if !slices.Contains(slugs, anchor) {
				t.Errorf("%s links to %s: no heading with anchor #%s", path, target, anchor)
			}
		}
	}
}
