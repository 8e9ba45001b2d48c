package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// relay publishes a port of the node on 127.0.0.1, as kind publishes a node container's
// ports: each connection accepted on the machine's loopback is joined to a connection made
// from inside the node's network namespace to the node's address. Nothing on the machine
// ever sends a packet to the node's address itself.
type relay struct {
	listener net.Listener
	netns    *os.File // the node's network namespace
	target   string
}

func listenLoopback(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("publishing on 127.0.0.1:%d: %w (is another cluster or demo running?)", port, err)
	}
	return l, nil
}

func (r *relay) serve() {
	for {
		conn, err := r.listener.Accept()
		if err != nil {
			return // closed at teardown
		}
		go func() {
			defer conn.Close()
			upstream, err := dialInNetns(r.netns, r.target)
			if err != nil {
				logf("relay %s → %s: %v", r.listener.Addr(), r.target, err)
				return
			}
			defer upstream.Close()
			pipe(conn, upstream)
		}()
	}
}

// pipe copies both ways; when one side ends its writes, the other side's write half is
// closed, so half-closed HTTP exchanges still complete.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}
	wg.Add(2)
	go copyHalf(a, b)
	go copyHalf(b, a)
	wg.Wait()
}

// dialInNetns creates the socket from a thread switched into the namespace: a socket
// belongs to the namespace it was created in for its whole life. The thread is never
// switched back: it stays locked, so the runtime discards it when the goroutine ends.
func dialInNetns(netns *os.File, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering the node's network namespace: %w", err)}
			return
		}
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}
