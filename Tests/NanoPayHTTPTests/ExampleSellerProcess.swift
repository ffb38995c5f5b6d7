import Foundation
import NanoPayClient
import NanoPayTestSupport

/// The example seller as a process, for end-to-end tests.
enum ExampleSellerProcess {
    /// Starts it on a port below Linux's ephemeral range (32768+, where client sockets live) and
    /// waits for /status; a seller that cannot bind exits and the next attempt takes another port.
    /// Returns the process and its URL; throws with the seller's log if it never came up.
    static func start(serviceURL: String, payTo: String, root: String, logPath: String, extraArguments: [String] = []) async throws -> (Process, String) {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...32_000)
            let seller = Process()
            seller.executableURL = URL(fileURLWithPath: TestBinaries.path("nanopay-example-seller"))
            seller.arguments = ["--port", String(port), "--service-url", serviceURL, "--pay-to", payTo, "--root", root, "--allow-software"] + extraArguments
            FileManager.default.createFile(atPath: logPath, contents: nil)
            seller.standardOutput = FileHandle(forWritingAtPath: logPath); seller.standardError = FileHandle(forWritingAtPath: logPath)
            try seller.run()
            let url = "http://127.0.0.1:\(port)"
            for _ in 0..<200 where seller.isRunning {
                if (try? await ServiceClient(baseURL: url, timeoutSeconds: 1).send(.GET, "/status"))?.status == 200 { return (seller, url) }
                try await Task.sleep(for: .milliseconds(50))
            }
            if seller.isRunning { seller.terminate(); seller.waitUntilExit() }
        }
        throw ClientError("the example seller did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }
}
