package main

import (
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	relayv1 "relay/v1"
)

// queueCapacity is the size of each subscriber's buffered channel. A
// subscriber whose channel is full when a frame is due is dropped.
const queueCapacity = 1024

var errSlowConsumer = status.Error(codes.ResourceExhausted, "slow consumer")

// subscriber is one open Chat or Follow stream. Rooms put frames into its
// buffered channel; the stream's own goroutine takes them out and sends them.
type subscriber struct {
	user string // "" for a Follow stream
	out  chan *relayv1.ServerFrame

	done     chan struct{} // closed once the stream is to end
	doneOnce sync.Once
	err      error // why the stream ends (nil: cleanly); written before done closes

	mu     sync.Mutex
	rooms  map[string]*room // joined rooms; guarded by mu
	closed bool             // left every room for good; guarded by mu
}

func newSubscriber(user string) *subscriber {
	return &subscriber{
		user:  user,
		out:   make(chan *relayv1.ServerFrame, queueCapacity),
		done:  make(chan struct{}),
		rooms: make(map[string]*room),
	}
}

// finish ends the stream with err (nil: OK). The first call wins.
func (s *subscriber) finish(err error) {
	s.doneOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// offer queues a frame without blocking; a full queue drops the subscriber.
func (s *subscriber) offer(frame *relayv1.ServerFrame) bool {
	select {
	case s.out <- frame:
		return true
	default:
		s.finish(errSlowConsumer)
		return false
	}
}

func (s *subscriber) joined(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.rooms[name]
	return ok
}

// leaveAll takes the subscriber out of every room, for good.
func (s *subscriber) leaveAll() {
	s.mu.Lock()
	rooms := s.rooms
	s.rooms = nil
	s.closed = true
	s.mu.Unlock()
	for _, r := range rooms {
		r.remove(s)
	}
}

// room holds its subscribers and numbers its messages.
type room struct {
	name  string
	epoch uint64

	mu       sync.Mutex
	sequence uint64                   // last assigned; guarded by mu
	subs     map[*subscriber]struct{} // guarded by mu
}

func (r *room) remove(s *subscriber) {
	r.mu.Lock()
	delete(r.subs, s)
	r.mu.Unlock()
}

// hub is the map of rooms. Rooms are created on first join and kept.
type hub struct {
	mu    sync.Mutex
	rooms map[string]*room
}

func newHub() *hub {
	return &hub{rooms: make(map[string]*room)}
}

func (h *hub) room(name string, create bool) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil && create {
		r = &room{name: name, epoch: uint64(time.Now().UnixMicro()), subs: make(map[*subscriber]struct{})}
		h.rooms[name] = r
	}
	return r
}

func (h *hub) list() []*room {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].name < rooms[j].name })
	return rooms
}

// join adds s to the room (creating it) and queues the Joined answer under
// the room's mutex, so that it comes before any message of the room. Joining
// a room the stream has already joined answers Joined again and changes
// nothing. Resume positions are not honoured: every join goes live from now.
func (h *hub) join(s *subscriber, name string) {
	r := h.room(name, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.rooms[name] = r
	r.mu.Lock()
	r.subs[s] = struct{}{}
	answer := &relayv1.ServerFrame{Kind: &relayv1.ServerFrame_Joined{Joined: &relayv1.Joined{
		Room: name, Epoch: r.epoch, Sequence: r.sequence,
	}}}
	r.mu.Unlock()
	s.offer(answer)
}

// leave takes s out of one room; false when it had not joined it.
func (h *hub) leave(s *subscriber, name string) bool {
	s.mu.Lock()
	r, ok := s.rooms[name]
	delete(s.rooms, name)
	s.mu.Unlock()
	if ok {
		r.remove(s)
	}
	return ok
}

// publish numbers the message under the room's mutex and offers it to every
// subscriber of the room, the publisher included. Subscribers with a full
// queue are dropped from the room and their stream ends RESOURCE_EXHAUSTED.
func (r *room) publish(sender, clientMessageID string, body []byte) (epoch, sequence uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sequence++
	frame := &relayv1.ServerFrame{Kind: &relayv1.ServerFrame_Message{Message: &relayv1.Message{
		Room:            r.name,
		Sequence:        r.sequence,
		Epoch:           r.epoch,
		Sender:          sender,
		ClientMessageId: clientMessageID,
		ServerTimeUs:    time.Now().UnixMicro(),
		Body:            body,
	}}}
	for s := range r.subs {
		if !s.offer(frame) {
			delete(r.subs, s)
		}
	}
	return r.epoch, r.sequence
}
