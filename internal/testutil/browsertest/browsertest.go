// Package browsertest drives a real headless Chromium (Debian's chromium
// package; .ci/run installs it) for the browser journeys of the web UI:
// one browser per person, steps with a timeout that report where the page
// was when they failed, and screenshots. TENANCY_CHROMIUM names another
// Chromium; TENANCY_SCREENSHOTS=dir saves screenshots there
// (docs/screenshots is committed).
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Browser starts a Chromium of its own (own cookies) for one person, for
// as long as t runs. Without Chromium the test is skipped, or fails in CI.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := os.Getenv("TENANCY_CHROMIUM")
	if path == "" {
		path = DefaultChromium
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s: .ci/run installs Debian's chromium package", path)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1280, 820),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // start the browser, without a timeout
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// Run runs steps within 30 s; on failure it reports the page's address and
// text.
func Run(ctx context.Context, t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("browser: %v\nat %s:\n%s", err, loc, body)
	}
}

// Text reads the text of sel, waiting up to 10 s for it; a read that raced
// the page replacing its live parts is tried again within that time.
func Text(ctx context.Context, t testing.TB, sel string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tctx, cancel := context.WithDeadline(ctx, deadline)
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("read %s: %v", sel, err)
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Screenshot saves the whole page as name.png in TENANCY_SCREENSHOTS, when
// set.
func Screenshot(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	dir := os.Getenv("TENANCY_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
