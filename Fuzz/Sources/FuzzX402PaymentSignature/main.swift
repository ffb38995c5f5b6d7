import DecoderChecks
import FuzzSupport

// libFuzzer target: the x402 `PAYMENT-SIGNATURE` header (a buyer's payload).
runFuzzer(DecoderChecks.x402PaymentSignature)
