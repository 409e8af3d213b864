"""What MNIST and CIFAR-10 are: classes, split sizes, image shapes; each fact written once.

Constants only, reading no file and importing nothing, so that :mod:`ffrepro.config` and
:mod:`ffrepro.augment` can use them without loading the downloaders of :mod:`ffrepro.data`
(which re-exports every name here, the import path the rest of the package uses).
"""

NUM_CLASSES = 10  # both data sets

# MNIST: 60,000 official training images (the first TRAIN_SIZE train, as in Hinton's code; the rest
# validate) and 10,000 test images, each 28 x 28 grey pixels, a row of 784 values.
MNIST_OFFICIAL_TRAIN = 60_000
MNIST_TEST = 10_000
TRAIN_SIZE = 50_000
MNIST_SIDE = 28
MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE

# CIFAR-10: 50,000 official training images (the first CIFAR10_TRAIN_SIZE train, our choice: the paper
# does not say; the rest validate) and 10,000 test images, each 32 x 32 pixels of 3 colours.
CIFAR10_TRAIN_SIZE = 45_000
CIFAR10_SIDE = 32
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CHANNELS = {"mnist": 1, "cifar10": 3}  # colour channels of an image
INPUTS = {"mnist": MNIST_PIXELS, "cifar10": CHANNELS["cifar10"] * CIFAR10_SIDE**2}  # values in an image's row
TRAIN_SIZES = {"mnist": TRAIN_SIZE, "cifar10": CIFAR10_TRAIN_SIZE}  # images in the training split
