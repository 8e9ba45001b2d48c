// Builds h2spec, the HTTP/2 conformance checker that proxy/tests/h2spec.rs runs against the
// proxy's TLS listener. A module of its own, like tests/helm. v2.2.1 is the newest h2spec
// the Go module proxy serves (v2.0.0 and the tags after v2.2.1 are refused); it has no
// go.mod, hence +incompatible, and the versions of its dependencies are the ones below.
module sluice.dev/tests/h2spec

go 1.26.0

tool github.com/summerwind/h2spec/cmd/h2spec

require (
	github.com/fatih/color v1.19.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	github.com/summerwind/h2spec v2.2.1+incompatible // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
