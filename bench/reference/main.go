// relay-reference: a straightforward Go relay on grpc-go for benchmarking
// relay-server against. It serves the same relay.v1.Relay contract the
// classic way: a map of rooms, and per subscriber a buffered channel drained
// by a goroutine that calls stream.Send.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	relayv1 "relay/v1"
)

// How long GracefulStop may take before the remaining calls are cut.
const shutdownGrace = 5 * time.Second

// writePortFile writes the port to a temporary name and renames it, so a
// reader never sees half a port.
func writePortFile(path string, port int) error {
	temporary := path + ".tmp"
	if err := os.WriteFile(temporary, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
		return err
	}
	return os.Rename(temporary, path)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	portFile := flag.String("port-file", "", "write the bound port to this file once listening")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen on %s: %v", *listen, err)
	}
	server := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              30 * time.Second,
			Timeout:           10 * time.Second,
			MaxConnectionIdle: 15 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	)
	relay := newRelayServer()
	relayv1.RegisterRelayServer(server, relay)
	// The standard health service: relay-chat's channels check
	// "relay.v1.Relay" (healthCheckConfig), as relay-server serves it.
	healthServer := health.NewServer()
	healthServer.SetServingStatus("relay.v1.Relay", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, healthServer)

	port := listener.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := writePortFile(*portFile, port); err != nil {
			log.Fatalf("write port file %s: %v", *portFile, err)
		}
	}
	log.Printf("relay-reference listening on %s", listener.Addr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		sig := <-signals
		log.Printf("%v: stopping", sig)
		// Open streams end UNAVAILABLE (clients would otherwise keep them
		// open forever); GracefulStop then lets in-flight calls finish.
		healthServer.Shutdown()
		relay.shutdown()
		timer := time.AfterFunc(shutdownGrace, server.Stop)
		server.GracefulStop()
		timer.Stop()
		close(stopped)
	}()

	if err := server.Serve(listener); err != nil {
		log.Fatalf("serve: %v", err)
	}
	<-stopped
	log.Printf("stopped")
}
