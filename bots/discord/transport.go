package discord

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// discordHost is where discordgo sends every REST call: its endpoints are fixed package
// variables, so a local server (MANDATE_DISCORD_API, tests) is reached by rewriting the
// requests' host instead of changing those variables for the whole process.
const discordHost = "discord.com"

// rebase sends requests for discord.com to base, keeping their paths (/api/v10/…).
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

func (r rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != discordHost {
		return r.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.base.Scheme, r.base.Host
	req.URL.Path = strings.TrimRight(r.base.Path, "/") + req.URL.Path
	req.Host = r.base.Host
	return r.next.RoundTrip(req)
}

// httpClient is the client discordgo uses: Discord's API, or the one at apiURL.
func httpClient(apiURL string) (*http.Client, error) {
	c := &http.Client{Timeout: 20 * time.Second}
	if apiURL == "" {
		return c, nil
	}
	u, err := url.Parse(strings.TrimSpace(apiURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discord: the API URL %q is not an http(s) URL like http://127.0.0.1:8081", apiURL)
	}
	c.Transport = rebase{base: u, next: http.DefaultTransport}
	return c, nil
}
