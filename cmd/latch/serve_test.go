package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestNewHTTPServer(t *testing.T) {
	t.Parallel()
	handler := http.NotFoundHandler()
	srv := newHTTPServer(handler, slog.New(slog.NewTextHandler(t.Output(), nil)))
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 15 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", srv.IdleTimeout, 120 * time.Second},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if srv.Handler == nil {
		t.Error("Handler is nil")
	}
	if srv.ErrorLog == nil {
		t.Error("ErrorLog is nil: the server's errors would go to the standard logger")
	}
}
