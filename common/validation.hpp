#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace relay::common {

inline constexpr std::size_t kMaxRoomNameBytes = 64;
inline constexpr std::size_t kMaxUserNameBytes = 32;
inline constexpr std::size_t kMaxClientMessageIdBytes = 64;

// Each returns nothing when the value is acceptable, or a sentence a person
// understands ("room name must be 1-64 characters of A-Z a-z 0-9 _ . -, got
// \"a b\"") when it is not. Offending values are quoted with control
// characters escaped and cut to a readable length.

// Room: 1-64 characters of [A-Za-z0-9_.-], not starting with '.'.
std::optional<std::string> validate_room_name(std::string_view room);
// User: 1-32 characters of [A-Za-z0-9_.-].
std::optional<std::string> validate_user_name(std::string_view user);
// The valid user name nearest to `name`, for names that come from elsewhere
// ($USER): each run of other characters becomes one '_', cut to 32. Empty
// only when `name` is.
std::string to_user_name(std::string_view name);
// Body: 1 to max_body_bytes bytes, valid UTF-8.
std::optional<std::string> validate_body(std::string_view body, std::size_t max_body_bytes);
// Client message id: 1-64 printable ASCII characters (0x21-0x7e).
std::optional<std::string> validate_client_message_id(std::string_view id);

// A publish's own fields, checked in the order the relay checks them (room,
// client message id, body), in Chat and in PublishBatch alike.
std::optional<std::string> validate_publish(std::string_view room, std::string_view id,
                                            std::string_view body, std::size_t max_body_bytes);

// Renders an untrusted value for a log line or an error message: control
// characters and non-ASCII bytes escaped, cut to max_bytes with "...".
std::string quote_for_humans(std::string_view value, std::size_t max_bytes = 40);

}  // namespace relay::common
