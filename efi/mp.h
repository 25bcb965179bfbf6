/* EFI_MP_SERVICES_PROTOCOL (UEFI PI spec vol. 2, 13.4), which gnu-efi lacks. */
#ifndef LAMINA_EFI_MP_H
#define LAMINA_EFI_MP_H

#include <efi.h>

#define LAMINA_MP_SERVICES_GUID \
    { 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

#define PROCESSOR_AS_BSP_BIT        0x1
#define PROCESSOR_ENABLED_BIT       0x2

typedef struct {
    UINT32 Package, Core, Thread;
} EFI_CPU_PHYSICAL_LOCATION;

typedef struct {
    UINT64 ProcessorId;
    UINT32 StatusFlag;
    EFI_CPU_PHYSICAL_LOCATION Location;
    UINT8 ExtendedInformation[24];      /* PI 1.7 adds Location2; room for it */
} EFI_PROCESSOR_INFORMATION;

typedef VOID (EFIAPI *EFI_AP_PROCEDURE)(VOID *arg);

typedef struct _EFI_MP_SERVICES_PROTOCOL EFI_MP_SERVICES_PROTOCOL;
struct _EFI_MP_SERVICES_PROTOCOL {
    EFI_STATUS (EFIAPI *GetNumberOfProcessors)(EFI_MP_SERVICES_PROTOCOL *, UINTN *total, UINTN *enabled);
    EFI_STATUS (EFIAPI *GetProcessorInfo)(EFI_MP_SERVICES_PROTOCOL *, UINTN cpu, EFI_PROCESSOR_INFORMATION *);
    EFI_STATUS (EFIAPI *StartupAllAPs)(EFI_MP_SERVICES_PROTOCOL *, EFI_AP_PROCEDURE, BOOLEAN single,
                                       EFI_EVENT wait, UINTN timeout_us, VOID *arg, UINTN **failed);
    EFI_STATUS (EFIAPI *StartupThisAP)(EFI_MP_SERVICES_PROTOCOL *, EFI_AP_PROCEDURE, UINTN cpu,
                                       EFI_EVENT wait, UINTN timeout_us, VOID *arg, BOOLEAN *finished);
    EFI_STATUS (EFIAPI *SwitchBSP)(EFI_MP_SERVICES_PROTOCOL *, UINTN cpu, BOOLEAN enable_old);
    EFI_STATUS (EFIAPI *EnableDisableAP)(EFI_MP_SERVICES_PROTOCOL *, UINTN cpu, BOOLEAN enable, UINT32 *health);
    EFI_STATUS (EFIAPI *WhoAmI)(EFI_MP_SERVICES_PROTOCOL *, UINTN *cpu);
};

#endif
