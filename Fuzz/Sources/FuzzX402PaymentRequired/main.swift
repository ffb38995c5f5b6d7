import DecoderChecks
import FuzzSupport

// libFuzzer target: the x402 `PAYMENT-REQUIRED` header.
runFuzzer(DecoderChecks.x402PaymentRequired)
