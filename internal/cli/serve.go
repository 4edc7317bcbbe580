package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tenancy-dev/tenancy/internal/server"
)

// serveFlags are the flags of `tenancy serve`, also on `tenancy up`.
type serveFlags struct {
	Address          string
	TLSCert, TLSKey  string
	PublicURL        string
	SessionTTL       time.Duration
	MaxTokenLifetime time.Duration
	OIDC             server.OIDCOptions
	AuthHeader       string
	AuthGroupsHeader string
	AuthHeaderPrefix string
	TrustedProxies   []string
}

func (f *serveFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Address, "address", server.DefaultAddress, "HOST:PORT the web UI and REST API listen on")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "PEM certificate file to serve HTTPS with (with --tls-key)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&f.PublicURL, "public-url", "", "URL browsers reach the server at (default from --address), for the OIDC callback")
	fs.DurationVar(&f.SessionTTL, "session-ttl", server.DefaultSessionTTL, "how long a sign-in lasts")
	fs.DurationVar(&f.MaxTokenLifetime, "max-token-lifetime", server.DefaultMaxTokenLifetime, "the longest a personal API token may live")
	fs.StringVar(&f.OIDC.IssuerURL, "oidc-issuer-url", "", "OpenID Connect issuer to sign in with (https://, or http:// on a loopback address)")
	fs.StringVar(&f.OIDC.ClientID, "oidc-client-id", "", "OIDC client ID; ID tokens must name it as their audience")
	fs.StringVar(&f.OIDC.ClientSecret, "oidc-client-secret", "", "OIDC client secret")
	fs.StringVar(&f.OIDC.UsernameClaim, "oidc-username-claim", "email", "ID token claim holding the user name")
	fs.StringVar(&f.OIDC.GroupsClaim, "oidc-groups-claim", "groups", "ID token claim holding the groups")
	fs.StringVar(&f.AuthHeader, "auth-header", "", "trust this request header (e.g. kubeflow-userid) for the user name, from --trusted-proxy addresses only")
	fs.StringVar(&f.AuthGroupsHeader, "auth-groups-header", "", "request header with comma-separated groups, with --auth-header (e.g. kubeflow-groups)")
	fs.StringVar(&f.AuthHeaderPrefix, "auth-header-prefix", "", "prefix removed from --auth-header's value (Kubeflow's 'accounts.google.com:')")
	fs.StringSliceVar(&f.TrustedProxies, "trusted-proxy", nil, "address or CIDR of a proxy whose --auth-header is trusted (repeatable)")
}

// options checks the flags and turns them into server options.
func (f *serveFlags) options() (server.Options, error) {
	o := server.Options{SessionTTL: f.SessionTTL, MaxTokenLifetime: f.MaxTokenLifetime, PublicURL: f.PublicURL,
		AuthHeader: f.AuthHeader, AuthGroupsHeader: f.AuthGroupsHeader, AuthHeaderPrefix: f.AuthHeaderPrefix}
	host, port, err := net.SplitHostPort(f.Address)
	if err != nil {
		return o, fmt.Errorf("--address %q is not HOST:PORT (e.g. 127.0.0.1:8090): %w", f.Address, err)
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	o.TLS = f.TLSCert != ""
	if f.SessionTTL < time.Minute {
		return o, fmt.Errorf("--session-ttl %s is too short: at least 1m", f.SessionTTL)
	}
	if f.MaxTokenLifetime < time.Minute {
		return o, fmt.Errorf("--max-token-lifetime %s is too short: at least 1m", f.MaxTokenLifetime)
	}
	if o.PublicURL == "" {
		scheme := "http"
		if o.TLS {
			scheme = "https"
		}
		h := host
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = "127.0.0.1"
		}
		o.PublicURL = scheme + "://" + net.JoinHostPort(h, port)
	}
	if f.OIDC.IssuerURL != "" {
		oidc := f.OIDC
		if err := oidc.Validate(); err != nil {
			return o, err
		}
		o.OIDC = &oidc
	} else if f.OIDC.ClientID != "" || f.OIDC.ClientSecret != "" {
		return o, errors.New("--oidc-client-id and --oidc-client-secret need --oidc-issuer-url")
	}
	if f.AuthHeader != "" && len(f.TrustedProxies) == 0 {
		return o, errors.New("--auth-header needs --trusted-proxy: the header is honoured only from the proxies named")
	}
	if f.AuthHeader == "" && (f.AuthGroupsHeader != "" || len(f.TrustedProxies) > 0) {
		return o, errors.New("--auth-groups-header and --trusted-proxy need --auth-header")
	}
	for _, p := range f.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return o, fmt.Errorf("--trusted-proxy %q is not an address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		o.TrustedProxies = append(o.TrustedProxies, pfx)
	}
	return o, nil
}

// plainHTTPWarning is what the server says when it serves plain HTTP where
// others can reach it.
func (f *serveFlags) plainHTTPWarning() string {
	if f.TLSCert != "" {
		return ""
	}
	host, _, _ := net.SplitHostPort(f.Address)
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("WARNING: serving plain HTTP on %s, which is not a loopback address: passwords and tokens cross the network unencrypted. Use --tls-cert/--tls-key, or put a TLS proxy in front.", f.Address)
}

// runServer serves until ctx ends. ready is called with the URL once the
// caches have synced and the listener is open.
func runServer(ctx context.Context, cfg *rest.Config, f *serveFlags, log logr.Logger, errOut io.Writer, ready func(url string)) error {
	o, err := f.options()
	if err != nil {
		return err
	}
	if w := f.plainHTTPWarning(); w != "" {
		fmt.Fprintln(errOut, w)
		log.Info(w)
	}
	ln, err := net.Listen("tcp", f.Address)
	if err != nil {
		return fmt.Errorf("--address %s: %w", f.Address, err)
	}
	defer func() { _ = ln.Close() }()
	if f.PublicURL == "" {
		// The port the listener got, for --address HOST:0.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		u, _ := url.Parse(o.PublicURL)
		o.PublicURL = u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
	}
	deps, err := server.Setup(ctx, cfg, o, log)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := deps.WaitReady(waitCtx); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           server.NewServer(deps),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	done := make(chan error, 1)
	go func() {
		if o.TLS {
			done <- srv.ServeTLS(ln, f.TLSCert, f.TLSKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	log.Info("Serving", "url", o.PublicURL, "address", ln.Addr().String())
	if ready != nil {
		ready(o.PublicURL)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		return nil
	}
}

// ServeOptions are the flags of `tenancy serve`.
type ServeOptions struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	serve   serveFlags
	devLogs bool
}

func newServeCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ServeOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web UI and the REST API, with sign-in",
		Long: `Serve Tenancy's web UI and REST API (under /api/v1, described by
/api/v1/openapi.json) until stopped.

People sign in with a Tenancy password ('tenancy user passwd NAME'), a
personal API token, an OIDC issuer (--oidc-issuer-url) or a trusted proxy's
header (--auth-header). Everything they do is done as them, by
impersonation, so Kubernetes RBAC decides: the server's own identity needs
only the rights of config/rbac/server_role.yaml.

/healthz, /readyz and /metrics are served on the same address.`,
		Example: `  # on this machine
  tenancy serve

  # for others, with TLS and an OIDC issuer
  tenancy serve --address :8443 --tls-cert tls.crt --tls-key tls.key \
    --oidc-issuer-url https://dex.example.com --oidc-client-id tenancy --oidc-client-secret "$SECRET"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := o.serve.options(); err != nil {
				return err
			}
			cfg, err := o.kube.ToRESTConfig()
			if err != nil {
				return fmt.Errorf("load kubeconfig: %w", err)
			}
			log := zap.New(zap.WriteTo(o.streams.ErrOut), zap.UseDevMode(o.devLogs))
			return runServer(cmd.Context(), cfg, &o.serve, log, o.streams.ErrOut, func(url string) {
				fmt.Fprintf(o.streams.Out, "Tenancy is served at %s\n", url)
			})
		},
	}
	o.kube = kubeFlags(cmd)
	o.serve.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.devLogs, "dev-logs", false, "human-readable logs instead of JSON")
	return cmd
}
