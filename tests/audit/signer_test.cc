#include "audit/signer.h"

#include <doctest/doctest.h>

namespace portcullis::audit {
namespace {

TEST_CASE("a signature verifies with the public key and fails for another message or key") {
  auto s = Signer::generate();
  std::string sig = s->sign("hello");
  CHECK(sig.size() == 64);
  CHECK(ed25519_verify(s->public_key(), "hello", sig));
  CHECK_FALSE(ed25519_verify(s->public_key(), "hellO", sig));
  CHECK_FALSE(ed25519_verify(Signer::generate()->public_key(), "hello", sig));
}

TEST_CASE("a raw 32-byte seed is a deterministic key") {
  auto a = Signer::from_bytes(std::string(32, '\x09'));
  auto b = Signer::from_bytes(std::string(32, '\x09'));
  REQUIRE(a);
  REQUIRE(b);
  CHECK((*a)->public_key() == (*b)->public_key());
  CHECK((*a)->key_id().rfind("ed25519:", 0) == 0);
  CHECK((*a)->key_id().size() == 8 + 16);
}

TEST_CASE("public keys round-trip through PEM") {
  auto s = Signer::generate();
  auto pub = ed25519_public_from_bytes(s->public_pem());
  REQUIRE(pub);
  CHECK(*pub == s->public_key());
}

TEST_CASE("a key that is neither a seed nor a PEM private key is refused") {
  CHECK_FALSE(Signer::from_bytes("short"));
  CHECK_FALSE(Signer::from_bytes("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"));
}

}  // namespace
}  // namespace portcullis::audit
