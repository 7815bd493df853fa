#include "tests/processes.h"

#include <filesystem>

#include "schema/internal.pb.h"
#include "wire/nats_connect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace coach::test {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

Process::Process(const std::string& program, const std::vector<std::string>& args,
                 const std::string& log_path)
    : log_path_(log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (posix_spawnp(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start " + program);
  posix_spawn_file_actions_destroy(&actions);
}

namespace {

// This process's environment with `changes` applied in order ("NAME=value"
// sets, "NAME" removes; of two changes of one name the later holds).
std::vector<std::string> environment_with(const std::vector<std::string>& changes) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::map<std::string, std::string> last;  // name -> its last change
  for (const auto& c : changes) last[name_of(c)] = c;
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e)
    if (!last.count(name_of(*e))) out.emplace_back(*e);
  for (const auto& kv : last)
    if (kv.second.find('=') != std::string::npos) out.push_back(kv.second);
  return out;
}

}  // namespace

ToolRun run_tool(const std::string& program, const std::vector<std::string>& args,
                 const std::string& scratch, std::chrono::seconds timeout,
                 const std::vector<std::string>& env) {
  std::string out_path = scratch + ".out", err_path = scratch + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto environment = environment_with(env);
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0)
    throw std::runtime_error("cannot start " + program);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  bool killed = false;
  for (auto deadline = std::chrono::steady_clock::now() + timeout;
       waitpid(pid, &status, WNOHANG) == 0;) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  auto err = slurp(err_path);
  if (killed) err += "\n(run_tool: killed after " + std::to_string(timeout.count()) + " s)\n";
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out_path), err};
}

Process::~Process() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Process::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Process::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      return log().find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void Process::signal(int sig) {
  kill(pid_, sig);
}

void Process::stop() {
  kill(pid_, SIGSTOP);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) S ...": the state follows the last ')'.
    auto close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int Process::wait() {
  int status = 0;
  if (!reaped_) waitpid(pid_, &status, 0);
  reaped_ = true;
  return status;
}

void make_certs(const std::string& dir) {
  std::string command = std::string(COACH_SOURCE_DIR) + "/scripts/make-certs.sh '" + dir + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("make-certs.sh failed");
}

namespace {

std::mutex servers_mutex;
std::map<std::string, const NatsServer*> servers_by_url;

}  // namespace

std::vector<std::string> NatsServer::args(const std::string& dir, bool tls, int port,
                                          const std::string& extra_config) {
  // The bus authority and JetStream (coachd's notifications need it) in the
  // test's own folder.
  auto authority = actors::open_bus_authority(dir + "/bus", /*create=*/true);
  if (!authority) throw std::runtime_error(authority.error().message);
  if (auto written = actors::write_server_config(dir + "/bus", *authority, dir + "/jetstream");
      !written)
    throw std::runtime_error(written.error().message);
  if (!extra_config.empty()) {
    std::ofstream config(dir + "/bus/server.conf", std::ios::app);
    config << "\n" << extra_config;
  }
  std::vector<std::string> a = {"-c", dir + "/bus/server.conf", "-a", "127.0.0.1",
                                "-p", std::to_string(port)};
  if (tls) {
    make_certs(dir + "/tls");
    for (std::string extra : {"--tlsverify", "--tlscert", "tls/server.pem", "--tlskey",
                              "tls/server.key", "--tlscacert", "tls/ca.pem"})
      a.push_back(extra.rfind("tls/", 0) == 0 ? dir + "/" + extra : extra);
  }
  return a;
}

NatsServer::NatsServer(const std::string& dir, bool tls, const std::string& extra_config)
    : dir_(dir),
      tls_(tls),
      tls_dir_(dir + "/tls"),
      port_(free_port()),
      process_("nats-server", args(dir, tls, port_, extra_config), dir + "/nats-server.log") {
  if (!process_.wait_for_log("Server is ready", std::chrono::seconds(10)))
    throw std::runtime_error("nats-server did not start: " + process_.log());
  std::lock_guard lock(servers_mutex);
  servers_by_url[url()] = this;
}

NatsServer::~NatsServer() {
  std::lock_guard lock(servers_mutex);
  servers_by_url.erase(url());
}

std::string NatsServer::creds(actors::BusRole role, const std::string& channel,
                              std::chrono::seconds ttl) const {
  static std::atomic<int> issued{0};
  auto authority = actors::open_bus_authority(bus_dir(), /*create=*/false);
  if (!authority) throw std::runtime_error(authority.error().message);
  auto creds = actors::issue_bus_credentials(*authority, {role, channel, ttl, "test"});
  if (!creds) throw std::runtime_error(creds.error().message);
  std::string path = bus_dir() + "/identity-" + std::to_string(++issued) + ".creds";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, creds->data(), creds->size()) != static_cast<ssize_t>(creds->size()))
    throw std::runtime_error("cannot write " + path);
  ::close(fd);
  return path;
}

actors::JetStreamLogOptions jetstream_log_options(const std::string& url, const std::string& creds,
                                                  const std::string& writer, int replicas) {
  actors::JetStreamLogOptions options;
  options.nats.url = url;
  options.nats.plaintext = true;
  options.nats.creds_file = creds;
  options.writer_id = writer;
  options.replicas = replicas;
  return options;
}

NatsCluster::NatsCluster(const std::string& dir, int size) {
  std::vector<int> routes;
  for (int i = 0; i < size; ++i) routes.push_back(free_port());
  for (int i = 0; i < size; ++i) {
    std::string own = dir + "/n" + std::to_string(i);
    std::filesystem::create_directories(own);
    if (i > 0)  // the first server's authority: one operator for the cluster
      std::filesystem::copy(dir + "/n0/bus", own + "/bus",
                            std::filesystem::copy_options::recursive);
    std::string config = "server_name: n" + std::to_string(i) +
                         "\ncluster {\n  name: coach\n  listen: 127.0.0.1:" +
                         std::to_string(routes[static_cast<size_t>(i)]) + "\n  routes: [";
    for (int j = 0; j < size; ++j)
      if (j != i)
        config += "\n    nats-route://127.0.0.1:" + std::to_string(routes[static_cast<size_t>(j)]);
    config += "\n  ]\n}\n";
    servers_.push_back(std::make_unique<NatsServer>(own, false, config));
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (bool led = false; !led;) {
    for (auto& server : servers_)
      led = led || server->process().log().find("new metadata leader") != std::string::npos;
    if (!led && std::chrono::steady_clock::now() > until)
      throw std::runtime_error("the NATS cluster elected no JetStream leader: " +
                               servers_.front()->process().log());
    if (!led) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::lock_guard lock(servers_mutex);
  servers_by_url[url()] = servers_.front().get();
}

NatsCluster::~NatsCluster() {
  std::lock_guard lock(servers_mutex);
  servers_by_url.erase(url());
}

std::string NatsCluster::url() const {
  std::string out;
  for (const auto& server : servers_) out += (out.empty() ? "" : ",") + server->url();
  return out;
}

std::string log_value(const std::string& log, const std::string& key) {
  auto marker = "\"" + key + "\":\"";
  auto at = log.find(marker);
  if (at == std::string::npos) return {};
  at += marker.size();
  return log.substr(at, log.find('"', at) - at);
}

std::string creds_for(const std::string& url, actors::BusRole role, const std::string& channel) {
  std::lock_guard lock(servers_mutex);
  auto found = servers_by_url.find(url);
  return found == servers_by_url.end() ? std::string() : found->second->creds(role, channel);
}

Coachd::Coachd(const std::string& data_dir, const std::string& nats_url,
               std::vector<std::string> extra_args, const std::string& ready_text)
    : process_(
          COACH_COACHD,
          [&] {
            std::vector<std::string> args = {"--data-dir", data_dir, "--nats-url", nats_url};
            if (nats_url.rfind("nats://", 0) == 0) args.push_back("--plaintext");
            if (std::find(extra_args.begin(), extra_args.end(), "--nats-creds") == extra_args.end())
              if (auto creds = creds_for(nats_url, actors::BusRole::coachd); !creds.empty())
                args.insert(args.end(), {"--nats-creds", creds});
            // Tests run side by side: each coachd's ops endpoints on a port of their own.
            if (std::find(extra_args.begin(), extra_args.end(), "--ops-port") == extra_args.end())
              args.insert(args.end(), {"--ops-port", "0"});
            args.insert(args.end(), extra_args.begin(), extra_args.end());
            return args;
          }(),
          data_dir + ".coachd.log") {
  if (!ready_text.empty() && !process_.wait_for_log(ready_text, std::chrono::seconds(20)))
    throw std::runtime_error("coachd did not start: " + process_.log());
}

std::string Coachd::ops_url() const {
  auto log = process_.log();
  constexpr std::string_view kKey = "\"ops\":\"";
  auto at = log.find(kKey);
  if (at == std::string::npos) return {};
  at += kKey.size();
  return log.substr(at, log.find('"', at) - at);
}

Client::Client(const std::string& url, const std::string& token_key_file,
               const std::string& tls_dir) {
  if (!token_key_file.empty()) {
    auto signer = actors::TokenSigner::load(token_key_file, false);
    if (!signer) throw std::runtime_error(signer.error().message);
    signer_ = std::move(*signer);
  }
  actors::NatsConfig config;
  config.url = url;
  config.plaintext = url.rfind("nats://", 0) == 0;
  config.use_tls_dir(tls_dir);
  config.creds_file = creds_for(url, actors::BusRole::client);
  auto connected = actors::connect_nats(config);
  if (!connected) throw std::runtime_error(connected.error().message);
  connection_ = *connected;
}

Client::~Client() {
  natsConnection_Destroy(connection_);
}

Result<v1::Reply> Client::request(const std::string& operation, const std::string& body,
                                  const std::string& user, const std::string& key,
                                  actors::Encoding encoding, int timeout_ms) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", std::string(actors::content_type_of(encoding))}, {"Coach-User", user}};
  if (!key.empty()) headers.emplace_back("Coach-Idempotency-Key", key);
  if (signer_) headers.emplace_back("Authorization", "Bearer " + token_for(user));
  auto reply = raw(std::string(actors::kSubjectPrefix) + operation, body, headers, timeout_ms);
  return reply;
}

std::string Client::token_for(const std::string& user) {
  auto& token = tokens_[user];
  if (token.empty()) {
    // A user id that is no UUID (bad-input tests) gets some valid token, so
    // that the request is judged on its Coach-User header.
    auto id = Uuid::parse(user);
    token = signer_->issue(id ? *id : Uuid::random(), v1::ROLE_USER, std::chrono::hours(1));
  }
  return token;
}

Status Client::flood(const std::string& subject, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers, int count) {
  natsInbox* inbox = nullptr;
  natsInbox_Create(&inbox);
  std::unique_ptr<natsInbox, void (*)(natsInbox*)> guard(inbox, natsInbox_Destroy);
  natsMsg* msg = nullptr;
  natsMsg_Create(&msg, subject.c_str(), inbox, body.data(), static_cast<int>(body.size()));
  for (const auto& [k, v] : headers) natsMsgHeader_Set(msg, k.c_str(), v.c_str());
  natsStatus s = NATS_OK;
  for (int i = 0; i < count && s == NATS_OK; ++i) s = natsConnection_PublishMsg(connection_, msg);
  natsMsg_Destroy(msg);
  if (s == NATS_OK) s = natsConnection_FlushTimeout(connection_, 5000);
  if (s != NATS_OK)
    return make_error(Errc::unavailable, std::string("flood: ") + natsStatus_GetText(s));
  return Ok{};
}

Result<v1::Reply> Client::raw(const std::string& subject, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              int timeout_ms) {
  natsMsg* msg = nullptr;
  natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  std::string content_type;
  for (const auto& [k, v] : headers) {
    natsMsgHeader_Set(msg, k.c_str(), v.c_str());
    if (k == "Content-Type") content_type = v;
  }
  natsMsg* response = nullptr;
  auto s = natsConnection_RequestMsg(&response, connection_, msg, timeout_ms);
  natsMsg_Destroy(msg);
  if (s != NATS_OK)
    return make_error(Errc::unavailable, std::string("no reply: ") + natsStatus_GetText(s));
  auto encoding = actors::encoding_from_content_type(content_type);
  auto reply = actors::decode_reply(
      {natsMsg_GetData(response), static_cast<size_t>(natsMsg_GetDataLength(response))},
      encoding ? *encoding : actors::Encoding::json);
  natsMsg_Destroy(response);
  return reply;
}

}  // namespace coach::test
