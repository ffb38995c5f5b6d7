import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

@Suite struct PaymentTests {
    @Test(arguments: LedgerEngine.allCases) func paymentDebitsCreditsAndReceiptsOnce(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 1)
        try await f.fund(buyer, 10_000)
        let auth = f.authorization(buyer, amount: 1_000)
        let (receipt, replayed) = try #require(settledReceipt(try await f.service.verify(auth)))
        #expect(!replayed)
        #expect(receipt.remainingBalance == Amount(9_000))
        #expect(receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
        // Identical resubmission: same receipt, marked replayed, no second debit.
        let (again, replayed2) = try #require(settledReceipt(try await f.service.verify(auth)))
        #expect(replayed2 && again == receipt)
        #expect(try await f.store.balance(buyer.address).available == Amount(9_000))
        #expect(try await f.store.balance(sellerAddress()).available == Amount(1_000))
        #expect(try await f.service.receipt(confirmationId: receipt.confirmationId) == receipt)
        // Same nonce, any other field: nonce_reused.
        let nonce = Hex.decode(auth.nonce)!
        await expectError(.nonceReused) { _ = try await f.service.verify(f.authorization(buyer, amount: 999, nonce: nonce)) }
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test(arguments: LedgerEngine.allCases) func failedChecksConsumeNothing(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 2)
        await expectError(.unknownPayer) { _ = try await f.service.verify(f.authorization(buyer, amount: 5)) }
        try await f.fund(buyer, 100)
        let big = f.authorization(buyer, amount: 150)
        await expectError(.insufficientBalance) { _ = try await f.service.verify(big) }
        try await f.fund(buyer, 100)
        // The same authorization succeeds once the balance is there.
        #expect(settledReceipt(try await f.service.verify(big)) != nil)
        var forged = f.authorization(buyer, amount: 1); forged.amount = "2"
        await expectError(.invalidSignature) { _ = try await f.service.verify(forged) }
        let stranger = Buyer(index: 99)
        var wrongKey = f.authorization(buyer, amount: 1)
        wrongKey.signature = Hex.encode(stranger.keys.sign(Hex.decode(wrongKey.signature)!))
        await expectError(.invalidSignature) { _ = try await f.service.verify(wrongKey) }
        let expired = f.authorization(buyer, amount: 1, validFor: 0)
        await expectError(.expired) { _ = try await f.service.verify(expired) }
        #expect(try await f.store.balance(buyer.address).available == Amount(50))
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test(arguments: LedgerEngine.allCases) func v2IsAcceptedAndV1CanBeRefused(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine, configuration: ServiceConfiguration(refuseV1: true)); defer { f.close() }
        let buyer = Buyer(index: 3)
        try await f.fund(buyer, 100)
        await expectError(.unsupportedVersion) { _ = try await f.service.verify(f.authorization(buyer, amount: 1)) }
        #expect(settledReceipt(try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2))) != nil)
    }

    @Test(arguments: LedgerEngine.allCases) func depositsAreIdempotentByReferenceAndKeysAreGuarded(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 4)
        try await f.fund(buyer, 100, reference: "tx-a")
        try await f.fund(buyer, 100, reference: "tx-a")
        #expect(try await f.store.balance(buyer.address).available == Amount(100))
        await expectError(.referenceConflict) { try await f.fund(buyer, 101, reference: "tx-a") }
        await expectError(.referenceConflict) { _ = try await f.store.deposit(address: sellerAddress(), amount: Amount(100), publicKey: nil, reference: "tx-a") }
        await expectError(.publicKeyConflict) {
            _ = try await f.store.deposit(address: buyer.address, amount: Amount(1), publicKey: Buyer(index: 5).keys.publicKey, reference: "tx-b")
        }
        try await f.store.rotateKey(address: buyer.address, publicKey: Buyer(index: 5).keys.publicKey)
        #expect(try await f.store.publicKey(buyer.address) == Buyer(index: 5).keys.publicKey)
    }

    @Test(arguments: LedgerEngine.allCases) func edgeAmountsAndOverflow(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 6)
        try await f.fund(buyer, .max)
        await expectError(.amountOverflow) { try await f.fund(buyer, 1) }
        _ = try await f.service.verify(f.authorization(buyer, amount: UInt128(1) << 64))
        _ = try await f.service.verify(f.authorization(buyer, amount: 1))
        #expect(try await f.store.balance(buyer.address).available == Amount(UInt128.max - (UInt128(1) << 64) - 1))
        let rest = UInt128.max - (UInt128(1) << 64) - 1
        _ = try await f.service.verify(f.authorization(buyer, amount: rest))
        #expect(try await f.store.balance(buyer.address).available == .zero)
        #expect(try await f.store.balance(sellerAddress()).totalReceived == .max)
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test(arguments: LedgerEngine.allCases) func withdrawalsNeverTakeHeldFunds(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 7)
        try await f.fund(buyer, 100)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(Amount(10))), authority: .operator("t"))
        guard case .held = try await f.service.verify(f.authorization(buyer, amount: 60)) else { Issue.record("not held"); return }
        await expectError(.insufficientBalance) { _ = try await f.store.withdraw(address: buyer.address, amount: Amount(41), reference: "w1") }
        let b = try await f.store.withdraw(address: buyer.address, amount: Amount(40), reference: "w1")
        #expect(b.available == .zero && b.held == Amount(60))
        _ = try await f.store.withdraw(address: buyer.address, amount: Amount(40), reference: "w1")
        #expect(try await f.store.balance(buyer.address).totalWithdrawn == Amount(40))
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test func storageSettingsAreInEffectAndMigrationsMatchTheFiles() async throws {
        let f = try Fixture(); defer { f.close() }
        #expect(try await f.ledger.synchronousLevel() == 2)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path + "/migrations").filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        let embedded = try String(contentsOfFile: root.path + "/Sources/Ledger/Migrations+Embedded.swift", encoding: .utf8)
        for file in files {
            let sql = try String(contentsOfFile: root.path + "/migrations/" + file, encoding: .utf8)
            #expect(embedded.contains(sql), "\(file) differs from the embedded copy: run scripts/embed-migrations.sh")
        }
    }

    /// Confirmation ids begin with the posting time, so the receipts' unique index grows at its
    /// end (one page per group commit instead of one random page per payment).
    @Test func confirmationIdsBeginWithThePostingTime() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 460)
        _ = try await f.fund(buyer, 10_000)
        var ids: [String] = []
        for step in 0..<3 {
            let (receipt, _) = try #require(settledReceipt(try await f.service.verify(f.authorization(buyer, amount: 1))))
            #expect(receipt.confirmationId.count == 32)
            #expect(receipt.confirmationId.hasPrefix(String(format: "%012llx", f.clock.nowMilliseconds())), "step \(step)")
            ids.append(receipt.confirmationId)
            f.clock.advance(milliseconds: 1)
        }
        #expect(ids == ids.sorted() && Set(ids).count == 3)
        // A repeat of the same authorization later is answered with the stored id.
        let auth = f.authorization(buyer, amount: 2)
        let (first, _) = try #require(settledReceipt(try await f.service.verify(auth)))
        f.clock.advance(seconds: 5)
        let (again, replayed) = try #require(settledReceipt(try await f.service.verify(auth)))
        #expect(replayed && again.confirmationId == first.confirmationId)
    }

    /// A version-1 database moves forward through every migration. 0002/0003 rebuild `payments`
    /// in row-id order; 0005 makes one row per payment: each receipt's facts move into its
    /// payment row, a receipt whose row nonce pruning had deleted gets its row back (not live:
    /// settled if a 'payment' transfer moved its money, else approved), the 'payment' transfers
    /// and the receipts table go, and (payer, nonce) stays unique among live rows.
    @Test func version1DatabasesMoveForwardToOneRowPerPayment() async throws {
        let f = try Fixture(); defer { f.close() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let db = f.directory.path + "/v1.sqlite"
        func receipt(_ cid: String, _ nonce: String, amount: String, remaining: String) -> String {
            #"{"amount":"\#(amount)","asset":"USDT","authorizationDigest":"\#(String(repeating: "d" + nonce.prefix(1), count: 32))","confirmationId":"\#(cid)","confirmedAt":1700000001,"enclavePublicKey":"","from":"0:\#(String(repeating: "aa", count: 32))","network":"tvm:-239","nonce":"\#(String(repeating: nonce, count: 32))","remainingBalance":"\#(remaining)","signature":"","to":"0:\#(String(repeating: "bb", count: 32))","validBefore":1700000300,"version":1}"#
        }
        let python = { (script: String) throws -> String in
            let p = Process(), out = Pipe()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); " + script, db, root.path + "/migrations/0001_init.sql"]
            p.standardOutput = out
            try p.run(); p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        let amount7 = "x'00000000000000000000000000000007'"
        let setup = [
            "c.executescript(open(sys.argv[2]).read())",
            "c.execute('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)')",
            "c.execute(\"INSERT INTO schema_migrations VALUES (1, '0001_init', 0)\")",
            // c1: a settled payment whose row is still there; c2: settled, row pruned; c3: an approved hold, row pruned.
            "c.execute(\"INSERT INTO payments VALUES ('0:aa', x'\(String(repeating: "11", count: 32))', '0:bb', \(amount7), 1700000300, x'\(String(repeating: "d1", count: 32))', 'settled', '01010101010101010101010101010101', NULL, 0, 1700000001000)\")",
            "c.execute('INSERT INTO receipts VALUES (?, ?, ?, ?)', ('01010101010101010101010101010101', '0:aa', '''\(receipt("01010101010101010101010101010101", "11", amount: "7", remaining: "93"))''', 1700000001000))",
            "c.execute('INSERT INTO receipts VALUES (?, ?, ?, ?)', ('02020202020202020202020202020202', '0:aa', '''\(receipt("02020202020202020202020202020202", "22", amount: "7", remaining: "86"))''', 1700000002000))",
            "c.execute('INSERT INTO receipts VALUES (?, ?, ?, ?)', ('03030303030303030303030303030303', '0:aa', '''\(receipt("03030303030303030303030303030303", "33", amount: "7", remaining: "79"))''', 1700000003000))",
            "c.execute(\"INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at) VALUES ('payment', '0:aa', '0:bb', \(amount7), '01010101010101010101010101010101', 1)\")",
            "c.execute(\"INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at) VALUES ('payment', '0:aa', '0:bb', \(amount7), '02020202020202020202020202020202', 2)\")",
            "c.execute(\"INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at) VALUES ('post', '0:aa', '0:bb', \(amount7), 'apr_x', 3)\")",
            "c.commit()",
        ]
        _ = try python(setup.joined(separator: "; "))
        let ledger = try Ledger(.init(path: db, clock: f.clock))
        #expect(try await ledger.settledPayment(confirmationId: "02020202020202020202020202020202")?.remainingBalance == Amount(86))
        ledger.close()
        let check = """
            print(c.execute('SELECT MAX(version) FROM schema_migrations').fetchone()[0])
            print(sorted(r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='payments'")))
            print(c.execute("SELECT confirmation_id, substr(hex(nonce), 1, 4), status, hex(remaining_balance), confirmed_at, live FROM payments ORDER BY confirmation_id").fetchall())
            print(c.execute("SELECT kind FROM transfers ORDER BY id").fetchall())
            print(c.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'receipts'").fetchone()[0])
            cols = 'payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, created_at'
            for nonce, cid in [('11', '09090909090909090909090909090909'), ('22', '08080808080808080808080808080808'), ('44', '01010101010101010101010101010101')]:
                try:
                    c.execute("INSERT INTO payments (%s) VALUES ('0:aa', x'%s', '0:bb', x'00', 1, x'04', 'settled', '%s', 1)" % (cols, nonce * 32, cid)); print('accepted', nonce, cid)
                except sqlite3.IntegrityError: print('refused', nonce, cid)
            """
        let after = try python("exec(" + String(reflecting: check) + ")")
        #expect(after == """
            7
            ['payments_confirmation', 'payments_nonce', 'payments_payee_time', 'payments_payer_time', 'payments_valid_before']
            [('01010101010101010101010101010101', '1111', 'settled', '0000000000000000000000000000005D', 1700000001, 1), ('02020202020202020202020202020202', '2222', 'settled', '00000000000000000000000000000056', 1700000001, 0), ('03030303030303030303030303030303', '3333', 'approved', '0000000000000000000000000000004F', 1700000001, 0)]
            [('post',)]
            0
            refused 11 09090909090909090909090909090909
            accepted 22 08080808080808080808080808080808
            refused 44 01010101010101010101010101010101

            """)
    }

    @Test func newerSchemaIsRefused() async throws {
        let f = try Fixture()
        f.ledger.close()
        let db = f.directory.path + "/ledger.sqlite"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO schema_migrations VALUES (999,'future',0)\"); c.commit()", db]
        try p.run(); p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        do { try f.reopen(); Issue.record("newer schema accepted") } catch let e as LedgerError {
            #expect("\(e)".contains("newer"))
        }
        f.directory.remove()
    }
}

@Suite struct BatchTests {
    /// A full batch of valid, distinct payments: every item settles once, in order. (A task-group
    /// version of `Ledger.pay(batch:)` crashed on exactly this, which no smaller test reached.)
    @Test(arguments: LedgerEngine.allCases) func fullBatchOfValidPaymentsSettlesEveryItem(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyers = (0..<8).map { Buyer(index: 200 + $0) }
        for b in buyers { try await f.fund(b, 10_000) }
        let items = (0..<256).map { f.authorization(buyers[$0 % 8], amount: UInt128($0 % 7 + 1)) }
        let results = await f.service.verifyBatch(items)
        #expect(results.count == 256)
        for (item, result) in zip(items, results) {
            guard case .success(.settled(let receipt, false)) = result else { Issue.record("item not settled: \(result)"); continue }
            #expect(receipt.nonce == item.nonce && receipt.amount.description == item.amount)
        }
        let again = await f.service.verifyBatch(Array(items.prefix(10)))
        #expect(again.allSatisfy { if case .success(.settled(_, true)) = $0 { return true }; return false })
        #expect(try await f.checkInvariants().isConsistent)
    }
}

extension PaymentTests {
    /// A dry run commits nothing, so its receipt must not carry the enclave's signature; a
    /// replay's receipt (of a committed payment) does.
    @Test(arguments: LedgerEngine.allCases) func dryRunReceiptsAreNotSigned(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 470)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 10)
        let (dry, _) = try #require(settledReceipt(try await f.service.check(auth)))
        #expect(dry.signature.isEmpty && !dry.verify(pinnedEnclaveKey: f.enclave.publicKey))
        _ = try await f.service.verify(auth)
        let (replay, replayed) = try #require(settledReceipt(try await f.service.check(auth)))
        #expect(replayed && replay.verify(pinnedEnclaveKey: f.enclave.publicKey))
    }
}
