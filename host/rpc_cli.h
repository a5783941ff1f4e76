// The commands that drive a running node through its Kubo RPC API, as the `ipfs` CLI does:
// `boxcar id`, `boxcar swarm connect|disconnect|peers`, `boxcar ping`, `boxcar block get`,
// `boxcar pin add`.
//
// The API address is --api (host:port or /ip4/H/tcp/P), else the config's rpc.listen (--config),
// else 127.0.0.1:5001; a secret in Kubo's API.Authorizations form ("bearer:TOKEN",
// "basic:USER:PASS") comes from --api-auth or BOXCAR_API_AUTH. `boxcar id --config FILE` with no
// node answering reads the identity key and prints the ID and PublicKey.
#pragma once

#include <filesystem>
#include <ostream>
#include <string_view>

namespace boxcar::cli {

bool IsRpcCommand(std::string_view command);
// The usage lines and descriptions of the RPC commands, for `boxcar --help`.
void PrintRpcUsage(std::ostream& out);
// argv[1] is the command. Exit codes: 0 success, 1 the call failed, 2 a usage error.
// `exe_dir` locates the bundled plugins when --config is loaded.
int RunRpcCommand(int argc, char** argv, const std::filesystem::path& exe_dir);

}  // namespace boxcar::cli
