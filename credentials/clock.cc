#include "credentials/clock.h"

namespace portcullis::credentials {
namespace {

class RealClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

const Clock& real_clock() {
  static const RealClock clock;
  return clock;
}

}  // namespace portcullis::credentials
