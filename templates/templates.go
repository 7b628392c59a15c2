// Package templates holds the operator console's HTML, embedded in the
// binary and parsed once at start-up. It imports nothing of Latch's: pages
// get typed data structs and render into a buffer, so a failed render never
// sends half a page.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
)

//go:embed *.html static
var files embed.FS

// Static is the console's script and style sheet, served as files so that
// the pages need no inline script (the Content-Security-Policy forbids it).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return sub
}

// Console is the data of the console page.
type Console struct {
	Issuer  string
	Version string
}

// Templates are the parsed pages.
type Templates struct {
	console *template.Template
}

// Parse parses the embedded pages.
func Parse() (*Templates, error) {
	t, err := template.ParseFS(files, "console.html")
	if err != nil {
		return nil, fmt.Errorf("templates: parse: %w", err)
	}
	return &Templates{console: t}, nil
}

// Console renders the console page.
func (t *Templates) Console(data Console) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.console.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("templates: render console: %w", err)
	}
	return buf.Bytes(), nil
}
