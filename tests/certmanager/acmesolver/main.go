// The HTTP-01 solver the cert-manager controller runs as a pod per challenge: it answers
// /.well-known/acme-challenge/<token> for its domain with the key. A main around the
// solver package of the github.com/cert-manager/cert-manager module, taking the flags the
// controller gives the pod (the module proxy serves no cmd/acmesolver module).
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	klog.InitFlags(nil)
	s := &solver.HTTP01Solver{}
	flag.IntVar(&s.ListenPort, "listen-port", 8089, "port to listen on")
	flag.StringVar(&s.Domain, "domain", "", "the domain name to answer for")
	flag.StringVar(&s.Token, "token", "", "the challenge token")
	flag.StringVar(&s.Key, "key", "", "the key to answer with")
	flag.Parse()
	if err := s.Listen(logf.Log); err != nil {
		fmt.Fprintln(os.Stderr, "acmesolver:", err)
		os.Exit(1)
	}
}
