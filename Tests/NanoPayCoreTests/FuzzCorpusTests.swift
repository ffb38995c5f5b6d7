import DecoderChecks
import Foundation
import Testing

/// Replays the committed fuzz corpus and every input a fuzzer ever crashed on through the same
/// checks the libFuzzer targets run (see Fuzz/ and scripts/fuzz.sh).
@Suite struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folder: String) -> [(target: String, file: URL)] {
        let fm = FileManager.default
        let base = fuzzDirectory.appendingPathComponent(folder)
        return ((try? fm.contentsOfDirectory(atPath: base.path)) ?? []).sorted().flatMap { target -> [(String, URL)] in
            let dir = base.appendingPathComponent(target)
            return ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).sorted().map { (target, dir.appendingPathComponent($0)) }
        }
    }

    @Test func everyDecoderHasACorpus() {
        let targets = Set(Self.inputs("Corpus").map(\.target))
        #expect(targets == Set(DecoderChecks.all.keys), "corpus directories and decoder checks differ")
    }

    @Test func corpusAndRegressionsPassTheirChecks() throws {
        let all = Self.inputs("Corpus") + Self.inputs("Regressions")
        #expect(all.count >= 20)
        for (target, file) in all {
            let check = try #require(DecoderChecks.all[target], "no decoder check named \(target)")
            // A failing input is a test failure naming the file, not a crashed test process.
            do { try check(try Data(contentsOf: file)) } catch {
                Issue.record("\(target)/\(file.lastPathComponent): \(error)")
            }
        }
    }
}
