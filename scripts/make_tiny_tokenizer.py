"""Build tests/fixtures/tiny-tokenizer/tokenizer.json: the same byte-level BPE (vocab 2048, NFC,
same specials, same training text) as the real-vLLM tiny model's tokenizer
(shared/real-vllm/make_tiny_model.py), without torch or transformers, so the token-exact tests
and the offline simulator examples count tokens like the tiny model does.

    pip install tokenizers && python3 scripts/make_tiny_tokenizer.py tests/fixtures/tiny-tokenizer
"""
import os
import random
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

if len(sys.argv) != 2:
    sys.exit("usage: make_tiny_tokenizer.py OUT_DIR")
OUT = sys.argv[1]
random.seed(0)
words = (
    "the quick brown fox jumps over lazy dog benchmark token stream server model "
    "latency throughput request response hello world what is how are you please "
    "write a story about cat tree river mountain city number one two three four "
    "five six seven eight nine ten and or but if then else while for in of to "
).split()
lines = []
for _ in range(20000):
    n = random.randint(3, 20)
    s = " ".join(random.choice(words) for _ in range(n))
    s = s.capitalize() + random.choice([".", "?", "!", ","]) + " " + str(random.randint(0, 99999))
    lines.append(s)

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
tok.normalizer = normalizers.NFC()
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=2048,
    special_tokens=SPECIALS,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
tok.train_from_iterator(lines, trainer=trainer)
os.makedirs(OUT, exist_ok=True)
tok.save(os.path.join(OUT, "tokenizer.json"))
print("vocab", tok.get_vocab_size(), "->", os.path.join(OUT, "tokenizer.json"))
