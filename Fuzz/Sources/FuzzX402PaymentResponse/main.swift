import DecoderChecks
import FuzzSupport

// libFuzzer target: the x402 `PAYMENT-RESPONSE` header (a settlement).
runFuzzer(DecoderChecks.x402PaymentResponse)
