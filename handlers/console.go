package handlers

import (
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/latchhq/latch/templates"
)

// consoleCSP lets the console load its own script and style and call the
// admin API on this origin, and nothing else.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// handleConsole serves the operator console page. The page holds no data:
// its script asks the operator for the admin token and calls the admin API
// with it, so every piece of data still needs the bearer.
func handleConsole(logger *slog.Logger, t *templates.Templates, data templates.Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := t.Console(data)
		if err != nil {
			logger.ErrorContext(r.Context(), "console render failed", "err", err)
			writeJSONError(w, http.StatusInternalServerError, "server_error", "Internal error.")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}

// handleConsoleStatic serves the console's script and style sheet, and
// 404 for a directory, which http.FileServerFS would list.
func handleConsoleStatic() http.Handler {
	files := http.StripPrefix("/admin/ui/static/", http.FileServerFS(filesOnly{templates.Static()}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// filesOnly is an fs.FS whose directories do not exist.
type filesOnly struct{ fsys fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := file.Stat(); err != nil || fi.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}
