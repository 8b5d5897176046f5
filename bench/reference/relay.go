package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	relayv1 "relay/v1"
)

const (
	maxBodyBytes     = 64 * 1024
	maxFollowedRooms = 64
)

var errShuttingDown = status.Error(codes.Unavailable, "relay shutting down")

// relayServer implements relay.v1.Relay. PublishBatch and History come from
// the embedded UnimplementedRelayServer and answer UNIMPLEMENTED.
type relayServer struct {
	relayv1.UnimplementedRelayServer
	hub *hub

	mu       sync.Mutex
	streams  map[*subscriber]struct{} // open Chat and Follow streams
	draining bool
}

func newRelayServer() *relayServer {
	return &relayServer{hub: newHub(), streams: make(map[*subscriber]struct{})}
}

// open registers a stream so that shutdown can end it.
func (srv *relayServer) open(user string) (*subscriber, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining {
		return nil, errShuttingDown
	}
	s := newSubscriber(user)
	srv.streams[s] = struct{}{}
	return s, nil
}

func (srv *relayServer) close(s *subscriber) {
	s.leaveAll()
	srv.mu.Lock()
	delete(srv.streams, s)
	srv.mu.Unlock()
}

// shutdown ends every open stream with UNAVAILABLE so that GracefulStop does
// not wait for clients that would never hang up.
func (srv *relayServer) shutdown() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.draining = true
	for s := range srv.streams {
		s.finish(errShuttingDown)
	}
}

// sendLoop is the subscriber's sender: it takes frames out of the buffered
// channel and sends them on the stream until the stream is to end. A stream
// that ends cleanly first sends what is still queued.
func sendLoop(ctx context.Context, s *subscriber, send func(*relayv1.ServerFrame) error) error {
	for {
		select {
		case frame := <-s.out:
			if err := send(frame); err != nil {
				return err
			}
		case <-s.done:
			if s.err != nil {
				return s.err
			}
			for {
				select {
				case frame := <-s.out:
					if err := send(frame); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func serverError(code codes.Code, message, room, clientMessageID string) *relayv1.ServerFrame {
	return &relayv1.ServerFrame{Kind: &relayv1.ServerFrame_Error{Error: &relayv1.ErrorNotice{
		Code: int32(code), Message: message, Room: room, ClientMessageId: clientMessageID,
	}}}
}

// Chat: the handler's goroutine is the stream's sender; a second goroutine
// reads client frames and acts on them.
func (srv *relayServer) Chat(stream relayv1.Relay_ChatServer) error {
	user, err := userFrom(stream.Context())
	if err != nil {
		return err
	}
	s, err := srv.open(user)
	if err != nil {
		return err
	}
	defer srv.close(s)
	// The hello that tells the client its stream is up before any frame.
	if err := stream.SendHeader(metadata.Pairs("x-relay-stream", "v1")); err != nil {
		return err
	}
	go srv.readLoop(stream, s)
	return sendLoop(stream.Context(), s, stream.Send)
}

func (srv *relayServer) readLoop(stream relayv1.Relay_ChatServer, s *subscriber) {
	for {
		frame, err := stream.Recv()
		if err == io.EOF {
			// Half-closed by the client: stop deliveries, send what is
			// queued, end OK.
			s.leaveAll()
			s.finish(nil)
			return
		}
		if err != nil {
			s.finish(err)
			return
		}
		switch kind := frame.Kind.(type) {
		case *relayv1.ClientFrame_Join:
			room := kind.Join.GetRoom()
			if msg := checkRoom(room); msg != "" {
				s.offer(serverError(codes.InvalidArgument, msg, room, ""))
				continue
			}
			srv.hub.join(s, room)
		case *relayv1.ClientFrame_Leave:
			room := kind.Leave.GetRoom()
			if !srv.hub.leave(s, room) {
				s.offer(serverError(codes.FailedPrecondition, "this stream has not joined "+room, room, ""))
			}
		case *relayv1.ClientFrame_Publish:
			srv.publish(s, kind.Publish)
		default:
			s.finish(status.Error(codes.InvalidArgument, "empty ClientFrame"))
			return
		}
	}
}

func (srv *relayServer) publish(s *subscriber, p *relayv1.Publish) {
	room, id := p.GetRoom(), p.GetClientMessageId()
	if msg := checkRoom(room); msg != "" {
		s.offer(serverError(codes.InvalidArgument, msg, room, id))
		return
	}
	if msg := checkClientMessageID(id); msg != "" {
		s.offer(serverError(codes.InvalidArgument, msg, room, ""))
		return
	}
	if msg := checkBody(p.GetBody()); msg != "" {
		s.offer(serverError(codes.InvalidArgument, msg, room, id))
		return
	}
	r := srv.hub.room(room, false)
	if r == nil || !s.joined(room) {
		s.offer(serverError(codes.PermissionDenied, "join "+room+" before publishing to it", room, id))
		return
	}
	epoch, sequence := r.publish(s.user, id, p.GetBody())
	s.offer(&relayv1.ServerFrame{Kind: &relayv1.ServerFrame_Ack{Ack: &relayv1.PublishAck{
		Room: room, ClientMessageId: id, Sequence: sequence, Epoch: epoch,
	}}})
}

// Follow joins the rooms (live from now, resume positions are not honoured)
// and streams what they deliver.
func (srv *relayServer) Follow(req *relayv1.FollowRequest, stream relayv1.Relay_FollowServer) error {
	rooms := req.GetRooms()
	if len(rooms) == 0 || len(rooms) > maxFollowedRooms {
		return status.Errorf(codes.InvalidArgument, "follow 1 to %d rooms, not %d", maxFollowedRooms, len(rooms))
	}
	seen := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		if msg := checkRoom(r.GetRoom()); msg != "" {
			return status.Error(codes.InvalidArgument, msg)
		}
		if seen[r.GetRoom()] {
			return status.Errorf(codes.InvalidArgument, "room %s is named twice", r.GetRoom())
		}
		seen[r.GetRoom()] = true
	}
	s, err := srv.open("")
	if err != nil {
		return err
	}
	defer srv.close(s)
	for _, r := range rooms {
		srv.hub.join(s, r.GetRoom())
	}
	return sendLoop(stream.Context(), s, stream.Send)
}

func (srv *relayServer) ListRooms(ctx context.Context, _ *relayv1.ListRoomsRequest) (*relayv1.ListRoomsResponse, error) {
	response := &relayv1.ListRoomsResponse{}
	for _, r := range srv.hub.list() {
		r.mu.Lock()
		info := &relayv1.RoomInfo{Room: r.name, Epoch: r.epoch, Sequence: r.sequence, Subscribers: uint32(len(r.subs))}
		r.mu.Unlock()
		response.Rooms = append(response.Rooms, info)
	}
	return response, nil
}

func (srv *relayServer) Who(ctx context.Context, req *relayv1.WhoRequest) (*relayv1.WhoResponse, error) {
	if msg := checkRoom(req.GetRoom()); msg != "" {
		return nil, status.Error(codes.InvalidArgument, msg)
	}
	r := srv.hub.room(req.GetRoom(), false)
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "no room named %s", req.GetRoom())
	}
	response := &relayv1.WhoResponse{}
	streams := make(map[string]uint32)
	r.mu.Lock()
	for s := range r.subs {
		if s.user == "" {
			response.Followers++
		} else {
			streams[s.user]++
		}
	}
	r.mu.Unlock()
	for user, n := range streams {
		response.Members = append(response.Members, &relayv1.Member{User: user, Streams: n})
	}
	sort.Slice(response.Members, func(i, j int) bool { return response.Members[i].User < response.Members[j].User })
	return response, nil
}

// ---------------------------------------------------------------------------
// Identity and validation, as the proto describes them.

func userFrom(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("x-relay-user")
	if len(values) == 0 {
		return "", status.Error(codes.Unauthenticated, "missing x-relay-user metadata: say who you are, e.g. x-relay-user: ann")
	}
	if !isName(values[0], 32) {
		return "", status.Error(codes.Unauthenticated, "bad x-relay-user metadata: user must be 1-32 characters of A-Z a-z 0-9 _ . -")
	}
	return values[0], nil
}

func isName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func checkRoom(room string) string {
	if !isName(room, 64) || room[0] == '.' {
		return fmt.Sprintf("room name must be 1-64 characters of A-Z a-z 0-9 _ . -, not starting with '.', got %q", room)
	}
	return ""
}

func checkClientMessageID(id string) string {
	if len(id) == 0 || len(id) > 64 {
		return "client_message_id must be 1-64 printable ASCII characters"
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return "client_message_id must be 1-64 printable ASCII characters"
		}
	}
	return ""
}

func checkBody(body []byte) string {
	if len(body) == 0 || len(body) > maxBodyBytes {
		return fmt.Sprintf("body must be 1 to %d bytes, got %d", maxBodyBytes, len(body))
	}
	if !utf8.Valid(body) {
		return "body must be valid UTF-8"
	}
	return ""
}
