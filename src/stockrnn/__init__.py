"""stockrnn: Hydra-configured recurrent forecasters of stock prices, trained with Lightning."""

__version__ = "0.1.0"
