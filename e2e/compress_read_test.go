package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A compressed log of many members read cold on a fresh mount by two
// readers at once, with the read-ahead's parallel parts: every byte comes
// back, from one GET of the compressed object. Before, the shared
// decompressing GET ran under the context of the part that started it;
// the read-ahead cancels a part's context once the part is in, which cut
// the GET under every other reader: each restarted it (a GET per part,
// and a failed part when the retry met the same fate).
func TestCompressColdReadsShareOneGet(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			srv, b := setup(t)
			m, _ := mountVia(t, srv, b, "--compress", c.name, "--upload-interval", "1h")
			p := filepath.Join(m.Dir, "app.log")
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for pub := 0; pub < 8; pub++ { // eight publications of 3 MiB: eight members
				var chunk strings.Builder
				for chunk.Len() < 3<<20 {
					chunk.WriteString(lineOf(c.name, len(want)+chunk.Len()))
				}
				for s := chunk.String(); len(s) > 0; {
					n := min(len(s), 1<<20)
					if i := strings.LastIndexByte(s[:n], '\n'); n < len(s) {
						n = i + 1
					}
					if _, err := f.Write([]byte(s[:n])); err != nil {
						t.Fatal(err)
					}
					s = s[n:]
				}
				want = append(want, chunk.String()...)
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			m.Unmount(t)

			m2, px := mountVia(t, srv, b, "--compress", c.name)
			p = filepath.Join(m2.Dir, "app.log")
			if st, err := os.Stat(p); err != nil || st.Size() != int64(len(want)) {
				t.Fatalf("stat on a fresh mount: %v, %v; want %d bytes", st, err, len(want))
			}
			gets := px.ObjectReads()
			var wg sync.WaitGroup
			got := make([][]byte, 2)
			errs := make([]error, 2)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = os.ReadFile(p)
				}()
			}
			wg.Wait()
			for i := range got {
				if errs[i] != nil || !bytes.Equal(got[i], want) {
					t.Fatalf("reader %d: %d bytes, %v; want the %d written", i, len(got[i]), errs[i], len(want))
				}
			}
			if n := px.ObjectReads() - gets; n != 1 {
				t.Fatalf("%d GETs of the compressed object for two cold sequential reads; want 1 (the stream is shared)", n)
			}
		})
	}
}
