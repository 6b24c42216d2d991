"""callcenter: contact-centre telephony and call routing."""

__version__ = "0.1.0"
