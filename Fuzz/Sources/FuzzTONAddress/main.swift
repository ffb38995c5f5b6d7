import DecoderChecks
import FuzzSupport

// libFuzzer target: TON addresses, raw and user-friendly.
runFuzzer(DecoderChecks.tonAddress)
