import Foundation
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

@Suite struct TicketWalletTests {
    /// Tickets outlive the process through the cache file (0600), and only live ones in scope are handed out.
    @Test func ticketsPersistAndAreHandedOutOnlyInScopeAndAlive() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let path = dir.path + "/tickets.json"
        let wallet = TicketWallet(path: path)
        wallet.add(.init(origin: "http://a:1", ticket: "t1", scope: "GET:/api/report/*", expiresAt: 1_000), nowSeconds: 900)
        wallet.add(.init(origin: "http://a:1", ticket: "t2", scope: "POST:/jobs", expiresAt: 1_000), nowSeconds: 900)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        let reopened = TicketWallet(path: path)
        #expect(reopened.ticket(origin: "http://a:1", method: "GET", path: "/api/report/x", nowSeconds: 990)?.ticket == "t1")
        #expect(reopened.ticket(origin: "http://a:1", method: "GET", path: "/api/other", nowSeconds: 990) == nil)
        #expect(reopened.ticket(origin: "http://b:1", method: "GET", path: "/api/report/x", nowSeconds: 990) == nil)
        #expect(reopened.ticket(origin: "http://a:1", method: "GET", path: "/api/report/x", nowSeconds: 999) == nil, "about to expire")
        // A third one replaces the file; a refused ticket is forgotten.
        reopened.add(.init(origin: "http://a:1", ticket: "t3", scope: "*:/*", expiresAt: 2_000), nowSeconds: 950)
        reopened.remove(ticket: "t1")
        let again = TicketWallet(path: path)
        #expect(again.ticket(origin: "http://a:1", method: "GET", path: "/api/report/x", nowSeconds: 990)?.ticket == "t3")
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }
}
