#include "cli/ui/tty.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace relay::cli::ui {
namespace {

// Read by signal handlers, hence globals of types a handler may touch.
termios g_saved_mode;
volatile std::sig_atomic_t g_raw_fd = -1;  // the terminal in raw mode, -1 when none
constexpr std::array<int, 7> kFatalSignals{SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
                                           SIGABRT, SIGSEGV, SIGBUS};
std::array<struct sigaction, kFatalSignals.size()> g_previous_fatal;

std::atomic<int> g_wake_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");
volatile std::sig_atomic_t g_resized = 0;
struct sigaction g_previous_winch;

// Async-signal-safe: tcsetattr is on POSIX's list.
void restore_mode() {
  const int fd = g_raw_fd;
  if (fd >= 0) {
    g_raw_fd = -1;
    ::tcsetattr(fd, TCSANOW, &g_saved_mode);
  }
}

void on_fatal_signal(int signal_number) {
  const int saved_errno = errno;
  restore_mode();
  for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
    if (kFatalSignals[i] == signal_number) {
      ::sigaction(signal_number, &g_previous_fatal[i], nullptr);
    }
  }
  // Blocked while this handler runs, so it is delivered to the reinstated
  // handler (or the default action) as soon as this one returns.
  ::raise(signal_number);
  errno = saved_errno;
}

void on_window_change(int) {
  const int saved_errno = errno;
  g_resized = 1;
  if (const int fd = g_wake_fd.load(); fd >= 0) {
    [[maybe_unused]] const auto written = ::write(fd, "w", 1);
  }
  errno = saved_errno;
}

void install(int signal_number, void (*handler)(int), struct sigaction* previous) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(signal_number, &action, previous);
}

void undo_raw_mode() {
  restore_mode();
  for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
    ::sigaction(kFatalSignals[i], &g_previous_fatal[i], nullptr);
  }
}

std::system_error last_error(const char* what) { return {errno, std::generic_category(), what}; }

}  // namespace

RawMode::RawMode(int fd) {
  if (g_raw_fd >= 0) {
    throw std::logic_error("RawMode: a terminal is in raw mode already");
  }
  termios mode{};
  if (::tcgetattr(fd, &mode) != 0) {
    throw last_error("cannot read the terminal mode");
  }
  g_saved_mode = mode;
  mode.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL | INLCR | IGNCR | ISTRIP | BRKINT);
  mode.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
  mode.c_cc[VMIN] = 1;
  mode.c_cc[VTIME] = 0;

  [[maybe_unused]] static const bool restore_at_exit = [] {
    return std::atexit(restore_mode) == 0;
  }();
  for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
    install(kFatalSignals[i], on_fatal_signal, &g_previous_fatal[i]);
  }
  // Marked raw before the change, so a signal in between restores a mode that
  // was never changed rather than leaving a changed one behind.
  g_raw_fd = fd;
  if (::tcsetattr(fd, TCSANOW, &mode) != 0) {
    const auto error = last_error("cannot put the terminal in raw mode");
    undo_raw_mode();
    throw error;
  }
}

RawMode::~RawMode() { undo_raw_mode(); }

WakePipe::WakePipe() {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw last_error("cannot make a pipe");
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  // Non-blocking on both ends: drain() reads until empty, and a handler must
  // never block on a full pipe (one pending byte is wake-up enough).
  for (const int fd : fds) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  g_wake_fd = write_fd_;
  install(SIGWINCH, on_window_change, &g_previous_winch);
}

WakePipe::~WakePipe() {
  ::sigaction(SIGWINCH, &g_previous_winch, nullptr);
  g_wake_fd = -1;
  ::close(read_fd_);
  ::close(write_fd_);
}

void WakePipe::wake() { [[maybe_unused]] const auto written = ::write(write_fd_, "w", 1); }

bool WakePipe::drain() {
  char buffer[64];
  while (::read(read_fd_, buffer, sizeof buffer) > 0) {
  }
  const bool resized = g_resized != 0;
  g_resized = 0;
  return resized;
}

std::optional<int> terminal_columns(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) {
    return std::nullopt;
  }
  return size.ws_col;
}

}  // namespace relay::cli::ui
