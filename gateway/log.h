// Structured JSON log lines on stderr. Producers only append to a bounded
// in-memory buffer; a background thread writes it, so an I/O thread never
// blocks on a slow stderr. Lines beyond the bound are dropped and counted.
// Never pass secrets or tokens in fields.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace portcullis::gateway::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void set_level(Level level);
bool enabled(Level level);
// Starts the writer thread; before start() lines are written synchronously
// (start-up and command-line use).
void start();
void stop();  // flushes

void write(Level level, std::string_view msg, nlohmann::json fields = nlohmann::json::object());
inline void debug(std::string_view m, nlohmann::json f = nlohmann::json::object()) { write(Level::kDebug, m, std::move(f)); }
inline void info(std::string_view m, nlohmann::json f = nlohmann::json::object()) { write(Level::kInfo, m, std::move(f)); }
inline void warn(std::string_view m, nlohmann::json f = nlohmann::json::object()) { write(Level::kWarn, m, std::move(f)); }
inline void error(std::string_view m, nlohmann::json f = nlohmann::json::object()) { write(Level::kError, m, std::move(f)); }

}  // namespace portcullis::gateway::log
