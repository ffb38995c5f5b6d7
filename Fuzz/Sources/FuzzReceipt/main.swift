import DecoderChecks
import FuzzSupport

// libFuzzer target: receipts as sellers receive them.
runFuzzer(DecoderChecks.receipt)
