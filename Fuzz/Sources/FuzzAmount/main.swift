import DecoderChecks
import FuzzSupport

// libFuzzer target: decimal amounts and their 16-byte storage form.
runFuzzer(DecoderChecks.amount)
