# Bare-metal install and the Debian package (packaging/ARCHITECTURE.md).
#   make install [PREFIX=/usr/local] [DESTDIR=]   binaries, units, tmpfiles, docs, example config
#   make deb                                      build/edgemesh-c_<version>_<arch>.deb
# install copies files only: it creates no user and starts nothing (README).
SBIN_INSTALL := edgemesh-controller edgemesh-dnsd edgemesh-proxyd edgemesh-tunneld \
	edgemesh-socksd edgemesh-gatewayd edgemeshctl
UNITDIR     ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR      ?= $(PREFIX)/share/doc/edgemesh
SYSCONFDIR  ?= /etc

.PHONY: install deb
install: $(addprefix $(B)/,$(SBIN_INSTALL))
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/edgemesh
	install -m 755 $^ $(DESTDIR)$(BINDIR)/
	for u in systemd/*.service systemd/*.socket systemd/*.target; do \
		sed -e 's|/usr/local/sbin|$(BINDIR)|g' -e 's|/usr/local/share/doc/edgemesh|$(DOCDIR)|g' \
			$$u >$(DESTDIR)$(UNITDIR)/$${u#systemd/} && chmod 644 $(DESTDIR)$(UNITDIR)/$${u#systemd/}; \
	done
	install -m 644 systemd/edgemesh.conf $(DESTDIR)$(TMPFILESDIR)/edgemesh.conf
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	[ -e $(DESTDIR)$(SYSCONFDIR)/edgemesh/edgemesh.yaml ] || \
		install -m 644 etc/edgemesh.yaml $(DESTDIR)$(SYSCONFDIR)/edgemesh/edgemesh.yaml

deb: all
	@scripts/mkdeb.sh $(B)
