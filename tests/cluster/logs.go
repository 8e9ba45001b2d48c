package main

import (
	"flag"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	logsapi "k8s.io/component-base/logs/api/v1"
)

var metav1GetOptions = metav1.GetOptions{}

func init() {
	// Two components in one process both apply logging configuration; the second
	// application must be accepted rather than rejected.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
}

// quietLogs sends the components' klog output to DIR/cluster.log unless verbose: the
// tests and the demo print only this program's own lines.
func quietLogs(verbose bool, dir string) {
	if verbose {
		return
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	_ = fs.Set("one_output", "true")
	f, err := os.OpenFile(filepath.Join(dir, "cluster.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	klog.SetOutput(f)
}
