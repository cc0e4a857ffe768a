#include "credentials/secret.h"

#include <doctest/doctest.h>

#include <sys/prctl.h>
#include <sys/resource.h>

#include <sstream>
#include <type_traits>

namespace portcullis::credentials {
namespace {

// "Cannot be printed": no operator<< for Secret is declared anywhere.
template <class T, class = void>
struct streamable : std::false_type {};
template <class T>
struct streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);
static_assert(!std::is_convertible_v<Secret, std::string>);
static_assert(!std::is_convertible_v<Secret, std::string_view>);
static_assert(!streamable<Secret>::value);

TEST_CASE("a secret reveals exactly the bytes it was given") {
  std::string raw("a\0b", 3);
  Secret s(raw);
  CHECK(s.size() == 3);
  CHECK(s.reveal() == raw);
}

TEST_CASE("a moved-from secret is empty and the target holds the bytes") {
  Secret a("hunter2");
  Secret b(std::move(a));
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): that is the point
  CHECK(b.reveal() == "hunter2");
  Secret c;
  c = std::move(b);
  CHECK(b.empty());  // NOLINT
  CHECK(c.reveal() == "hunter2");
}

TEST_CASE("take copies a string into a secret and wipes the string") {
  std::string s = "password-from-stdin";
  Secret t = Secret::take(s);
  CHECK(s.empty());
  CHECK(t.reveal() == "password-from-stdin");
}

TEST_CASE("equals compares in constant time and checks sizes") {
  CHECK(Secret("abc").equals(Secret("abc")));
  CHECK_FALSE(Secret("abc").equals(Secret("abd")));
  CHECK_FALSE(Secret("abc").equals(Secret("abcd")));
  CHECK(Secret().equals(Secret("")));
}

TEST_CASE("concat builds a header value without a plain copy") {
  Secret s = Secret::concat("Bearer ", "tok");
  CHECK(s.reveal() == "Bearer tok");
  CHECK(s.clone().reveal() == "Bearer tok");
}

TEST_CASE("clear wipes and empties a secret") {
  Secret s("x");
  s.clear();
  CHECK(s.empty());
  CHECK(s.reveal().empty());
}

TEST_CASE("disable_core_dumps sets the core limit to zero and the process undumpable") {
  CHECK(disable_core_dumps());
  struct rlimit rl {};
  REQUIRE(getrlimit(RLIMIT_CORE, &rl) == 0);
  CHECK(rl.rlim_cur == 0);
  CHECK(rl.rlim_max == 0);
  CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
}

}  // namespace
}  // namespace portcullis::credentials
