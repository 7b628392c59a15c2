package bearer

import "testing"

func TestNormalizeHTU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:8080/oauth2/token", "http://127.0.0.1:8080/oauth2/token"},
		{"http://127.0.0.1:80/oauth2/token", "http://127.0.0.1/oauth2/token"},
		{"https://[::1]:443", "https://[::1]/"},
		{"https://[::1]:8443/a?b#c", "https://[::1]:8443/a"},
		{"https://A.example/%7euser", "https://a.example/~user"},
		{"ftp://a.example/", ""},
		{"https://user@a.example/", ""},
		{"/oauth2/token", ""},
	} {
		got, ok := NormalizeHTU(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
