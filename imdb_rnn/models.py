"""The classifier: Embedding -> [word dropout] [SpatialDropout] -> recurrent layer(s) -> head -> Dropout -> Dense(sigmoid).

Padding id 0 is masked all the way through, so a review's prediction does not depend on how much
padding its batch needed. With arch.adversarial (arch.virtual_adversarial) the same classifier also
learns from adversarially perturbed word vectors (AdversarialClassifier).
"""

import warnings

import keras
import tensorflow as tf
from keras import layers, ops

# With arch.adversarial the word vectors' mask goes into the `body` model and through its layers; only its
# output, one probability per review, has none, which is what Keras warns about.
warnings.filterwarnings("ignore", message="Layer 'body' .* does not support masking")

CELLS = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}  # checks.py lists these names and the heads


@keras.saving.register_keras_serializable(package="imdb_rnn")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over time that ignores padded steps (Keras' GlobalMaxPooling1D ignores the mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="imdb_rnn")
class AttentionPooling1D(layers.Layer):
    """Attention over time: a weighted mean of the steps, weights = softmax over the unpadded steps of
    a learned score v . tanh(W h_t + b) (additive attention, as in Bahdanau et al. / Yang et al. 2016)."""

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True
        self.hidden = layers.Dense(units, activation="tanh")
        self.score = layers.Dense(1, use_bias=False)

    def call(self, inputs, mask=None):
        scores = self.score(self.hidden(inputs))[..., 0]
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="imdb_rnn")
class AdversarialClassifier(keras.Model):
    """Adversarial training on the word vectors (Miyato, Dai & Goodfellow 2017, on IMDb): each step learns
    from the batch as it is and from the batch with every review's word vectors pushed in the direction
    that raises its loss most, by `adversarial` times their length (the norm over the review's words, so
    that the push cannot be outgrown by growing the embeddings). The layers are `embedding` and `body`
    (everything after it); prediction, validation and saving are those of any Keras model.

    With `virtual_adversarial` (VAT, same paper), each step also asks for the same answer, whatever the label,
    when every review's word vectors are pushed in the direction that changes the model's prediction most,
    by that fraction of their length (`virtual_adversarial_loss`)."""

    adversarial = 0.0  # both set by build_model and saved in the config
    virtual_adversarial = 0.0

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        embedding, body = self.get_layer("embedding"), self.get_layer("body")
        with tf.GradientTape() as tape:
            vectors, mask = embedding(x), embedding.compute_mask(x)
            with tf.GradientTape() as probe:
                probe.watch(vectors)
                y_pred = body(vectors, training=True, mask=mask)
                loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
            total = loss
            if self.adversarial:
                push = adversarial_push(vectors, tf.stop_gradient(probe.gradient(loss, vectors)), mask, self.adversarial)
                total += self.compute_loss(x, y, body(vectors + push, training=True, mask=mask), sample_weight, training=True)
            if self.virtual_adversarial:
                total += self.virtual_adversarial_loss(body, vectors, mask)
        weights = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(total, weights), weights))
        for metric in self.metrics:  # the reported training loss is the clean batch's, as without
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def virtual_adversarial_loss(self, body, vectors, mask):
        """KL(p || p pushed): p, the model's probabilities (held fixed); the push, from a random direction,
        one step of power iteration towards the direction that changes p most (a probe a tenth of the
        push's size), then `virtual_adversarial` times the vectors' norm. The random direction is drawn
        from the step count, so that a run stays reproducible under XLA."""
        target, fixed = tf.stop_gradient(body(vectors, training=True, mask=mask)), tf.stop_gradient(vectors)
        seed = tf.stack([tf.cast(self.optimizer.iterations, tf.int32), tf.constant(VAT_SEED)])
        start = adversarial_push(fixed, tf.random.stateless_normal(tf.shape(fixed), seed), mask, 0.1 * self.virtual_adversarial)
        with tf.GradientTape() as probe:
            probe.watch(start)
            divergence = binary_kl(target, body(fixed + start, training=True, mask=mask))
        push = adversarial_push(fixed, tf.stop_gradient(probe.gradient(divergence, start)), mask, self.virtual_adversarial)
        return binary_kl(target, body(vectors + push, training=True, mask=mask))

    def get_config(self):
        return {**super().get_config(), "adversarial": self.adversarial, "virtual_adversarial": self.virtual_adversarial}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        adversarial, virtual = config.pop("adversarial", 0.0), config.pop("virtual_adversarial", 0.0)
        model = super().from_config(config, custom_objects)
        model.adversarial, model.virtual_adversarial = adversarial, virtual
        return model


VAT_SEED = 20170101  # with the step count, the random start of virtual_adversarial_loss's push


def binary_kl(p, q):
    """The KL divergence between Bernoulli(p) and Bernoulli(q), averaged over the reviews."""
    p, q = ops.clip(p, 1e-7, 1 - 1e-7), ops.clip(q, 1e-7, 1 - 1e-7)
    return ops.mean(p * ops.log(p / q) + (1 - p) * ops.log((1 - p) / (1 - q)))


def adversarial_push(vectors, gradient, mask, size: float):
    """Each review's perturbation: along its loss gradient, `size` times the norm of its word vectors
    (padding left out of both norms)."""
    keep = ops.expand_dims(ops.cast(mask, vectors.dtype), -1)
    gradient, vectors = gradient * keep, vectors * keep

    def norm(t):
        return ops.sqrt(ops.sum(ops.square(t), axis=(1, 2), keepdims=True))

    return size * norm(vectors) * gradient / (norm(gradient) + 1e-12)


def build_model(settings: dict, vocab_size: int, jit_compile: bool = False, word_vectors=None) -> keras.Model:
    """A compiled model. `settings` holds the arch config's keys (conf/arch), possibly tuned.
    jit_compile: XLA-compile its train/predict steps (faster on CPU; one compilation per batch shape).
    word_vectors: the embedding's starting values, (vocab_size, embedding_dim) (pretrain=lm); else random."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = layers.Embedding(vocab_size, int(settings["embedding_dim"]), mask_zero=True, name="embedding",
                                 weights=None if word_vectors is None else [word_vectors])
    name = f"{settings['cell']}_classifier"
    if settings.get("adversarial") or settings.get("virtual_adversarial"):
        # The layers after the embedding as a model of their own, which train_step runs on perturbed vectors.
        vectors = keras.Input(shape=(None, int(settings["embedding_dim"])), name="word_vectors")
        body = keras.Model(vectors, classifier_body(vectors, settings), name="body")
        model = AdversarialClassifier(token_ids, body(embedding(token_ids)), name=name)
        model.adversarial = float(settings.get("adversarial") or 0.0)
        model.virtual_adversarial = float(settings.get("virtual_adversarial") or 0.0)
    else:
        model = keras.Model(token_ids, classifier_body(embedding(token_ids), settings), name=name)
    # ema_momentum: Keras keeps a moving average of the weights (Polyak averaging), which smooths out the
    # last minibatches' noise; ema_callbacks puts it in the model for validation and checkpoints.
    ema_momentum = settings.get("ema_momentum")
    optimizer = keras.optimizers.Adam(
        float(settings["learning_rate"]), clipnorm=settings.get("clipnorm"),
        use_ema=ema_momentum is not None, ema_momentum=float(ema_momentum or 0.99),
    )
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    return model


def classifier_body(x, settings: dict):
    """Everything after the embedding, from its (masked) word vectors to P(positive)."""
    num_layers, head = int(settings["num_layers"]), settings["head"]
    if settings.get("word_dropout"):
        # Drops whole words (each step's vector at once), as if unknown: no single word, such as a name
        # learned by heart, can decide a review.
        x = layers.Dropout(float(settings["word_dropout"]), noise_shape=(None, None, 1), name="word_dropout")(x)
    if settings.get("embedding_dropout"):
        # Drops whole embedding channels for a review (all its steps at once): a regulariser against
        # the embedding table memorising the training reviews, which an IMDb model does within two epochs.
        x = layers.SpatialDropout1D(float(settings["embedding_dropout"]))(x)
    for i in range(num_layers):
        whole_sequence = i < num_layers - 1 or head != "last"
        # recurrent_dropout: one dropout mask per review on the state fed back at each step (Gal & Ghahramani).
        recurrent = CELLS[settings["cell"]](
            int(settings["units"]), return_sequences=whole_sequence, recurrent_dropout=float(settings.get("recurrent_dropout") or 0)
        )
        x = layers.Bidirectional(recurrent)(x) if settings["bidirectional"] else recurrent(x)
    if head == "mean":
        x = layers.GlobalAveragePooling1D()(x)
    elif head == "max":
        x = MaskedGlobalMaxPooling1D()(x)
    elif head == "attention":
        x = AttentionPooling1D(int(settings["units"]))(x)
    x = layers.Dropout(float(settings["dropout"]))(x)
    return layers.Dense(1, activation="sigmoid", name="positive")(x)


def ema_callbacks(settings: dict) -> list[keras.callbacks.Callback]:
    """With arch.ema_momentum, the callback that swaps the averaged weights into the model for each
    validation and at each epoch's end, so early stopping, checkpoints and the tuner all see (and keep)
    the average. Goes first in a fit's callbacks; a fit that runs all its epochs ends on the average anyway."""
    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if settings.get("ema_momentum") is not None else []
