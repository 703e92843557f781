"""Image data: labelled images in [0, 1] (``ImageSet`` splits) from scikit-learn's digits, CIFAR-10/100,
ImageFolder trees and Tiny-ImageNet."""
