#include "offline/offline_access.h"
#include "schema/internal.pb.h"

#include <filesystem>

namespace coach::actors {

std::string beside_data_dir(const std::string& data_dir, const char* name) {
  return (std::filesystem::path(data_dir).lexically_normal().parent_path() / name).string();
}

namespace {

void default_key_paths(OfflineAccess& access) {
  if (access.master_key_file.empty())
    access.master_key_file = beside_data_dir(access.data_dir, "master.key");
  if (access.token_key_file.empty())
    access.token_key_file = beside_data_dir(access.data_dir, "token.key");
}

}  // namespace

Status init_data_dir(OfflineAccess paths) {
  default_key_paths(paths);
  auto path = paths.data_dir + "/events";
  if (std::filesystem::exists(path + "/CURRENT"))
    return make_error(Errc::conflict, "there is coach data at " + path + " already");
  if (std::filesystem::exists(paths.master_key_file))
    return make_error(Errc::conflict, paths.master_key_file +
                                          " exists: it belongs to another store; move it away "
                                          "or name another --master-key-file");
  std::error_code ec;
  std::filesystem::create_directories(paths.data_dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot make " + paths.data_dir + ": " + ec.message());
  auto master = events::SecretKey::load_master(paths.master_key_file, /*create=*/true);
  if (!master) return master.error();
  if (auto signer = TokenSigner::load(paths.token_key_file, /*create=*/true); !signer)
    return signer.error();
  events::StoreOptions options;
  options.path = path;
  options.master_key = *master;
  auto store = events::EventStore::open(options);
  if (!store) return store.error();
  return Ok{};
}

Result<OpenedStore> open_for_analysis(OfflineAccess access) {
  default_key_paths(access);
  if (access.token.empty())
    return make_error(Errc::unauthenticated,
                      "an analyst's or admin's token is needed (--token-file or COACH_TOKEN; "
                      "coachctl admin token --role analyst issues one)");
  auto signer = TokenSigner::load(access.token_key_file, /*create=*/false);
  if (!signer) return signer.error();
  auto claims = signer->verifier().verify(access.token, SystemClock::now());
  if (!claims) return claims.error();
  if (claims->role != v1::ROLE_ANALYST && claims->role != v1::ROLE_ADMIN)
    return make_error(Errc::permission_denied,
                      "the token is a user's: analysts' tools need an analyst or admin token");
  auto path = access.data_dir + "/events";
  if (!std::filesystem::exists(path + "/CURRENT"))
    return make_error(Errc::not_found, "no coach data at " + path);
  auto master = events::SecretKey::load_master(access.master_key_file, /*create=*/false);
  if (!master) return master.error();
  events::StoreOptions options;
  options.path = path;
  options.master_key = *master;
  options.read_only = access.read_only;
  auto store = events::EventStore::open(options);
  if (!store) {
    if (!access.read_only && store.error().message.find("lock") != std::string::npos)
      return make_error(Errc::io_error, "the store at " + path +
                                            " is in use (is coachd running?): stop coachd "
                                            "first; " +
                                            store.error().message);
    return store.error();
  }
  return OpenedStore{*claims, std::move(*store)};
}

}  // namespace coach::actors
